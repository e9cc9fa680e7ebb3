"""Embedded PostgreSQL + PostGIS cluster for machines without a database server.

Used whenever ``GRIDMAP_DATABASE_URL`` is unset: ``initdb``/``pg_ctl`` from the Debian
packages run a private cluster under the user's data directory, listening on loopback on a
private port and on a unix socket inside that directory. The superuser password is random,
kept in a mode-600 file beside the cluster, never in the repository.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to the
``postgres`` system user (created by the Debian package) and the commands run through
``runuser``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from data.errors import EmbeddedDatabaseError

PG_VERSION = "15"
DEFAULT_PORT = 54329
INSTALL_HINT = (
    f"sudo apt-get update && sudo apt-get install -y postgresql-{PG_VERSION} "
    f"postgresql-{PG_VERSION}-postgis-3 postgresql-{PG_VERSION}-pgrouting"
)
_DB_NAME = "gridmap"
_SUPERUSER = "gridmap"


def default_home() -> Path:
    """Where the embedded cluster lives: ``$GRIDMAP_HOME``, else the XDG data dir.

    As root the XDG dir is under /root, which the ``postgres`` user cannot reach, so root
    uses /var/lib/gridmap instead.
    """
    if env := os.environ.get("GRIDMAP_HOME"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/gridmap")
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "gridmap"


def _bindir() -> Path:
    bindir = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
    if not (bindir / "initdb").exists():
        raise EmbeddedDatabaseError(
            f"PostgreSQL {PG_VERSION} is not installed; run: {INSTALL_HINT}"
        )
    return bindir


def _check_postgis() -> None:
    if not Path(f"/usr/share/postgresql/{PG_VERSION}/extension/postgis.control").exists():
        raise EmbeddedDatabaseError(f"PostGIS 3 is not installed; run: {INSTALL_HINT}")


@dataclass(frozen=True)
class Cluster:
    """One embedded cluster: a directory and a port."""

    home: Path
    port: int = DEFAULT_PORT

    @property
    def datadir(self) -> Path:
        return self.home / "pgdata"

    @property
    def sockdir(self) -> Path:
        return self.home / "run"

    @property
    def logfile(self) -> Path:
        return self.home / "postgres.log"

    @property
    def pwfile(self) -> Path:
        return self.home / "password"

    def url(self) -> str:
        """libpq URL of the cluster's database (``postgresql://…``)."""
        password = self.pwfile.read_text().strip() if self.pwfile.exists() else ""
        return f"postgresql://{_SUPERUSER}:{password}@127.0.0.1:{self.port}/{_DB_NAME}"

    def sqlalchemy_url(self) -> str:
        return self.url().replace("postgresql://", "postgresql+psycopg://", 1)

    # --- lifecycle -----------------------------------------------------------------

    def is_running(self) -> bool:
        if not (self.datadir / "postmaster.pid").exists():
            return False
        result = self._run(["pg_ctl", "status", "-D", str(self.datadir)], check=False)
        return result.returncode == 0

    def start(self, *, timeout_s: float = 60.0) -> str:
        """Create the cluster if needed and start it; a no-op when it already runs."""
        _bindir()
        _check_postgis()
        if not (self.datadir / "PG_VERSION").exists():
            self._init()
        if not self.is_running():
            if _port_in_use(self.port):
                raise EmbeddedDatabaseError(
                    f"port {self.port} is taken by another program; set GRIDMAP_DB_PORT"
                )
            opts = (
                f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 "
                "-c fsync=on -c max_connections=200"
            )
            self._run(
                [
                    "pg_ctl",
                    "start",
                    "-w",
                    "-t",
                    str(int(timeout_s)),
                    "-D",
                    str(self.datadir),
                    "-l",
                    str(self.logfile),
                    "-o",
                    opts,
                ]
            )
        self._ensure_database()
        return self.url()

    def stop(self) -> None:
        """Stop the cluster (fast shutdown); a no-op when it is not running."""
        if self.is_running():
            self._run(["pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.datadir)])

    def destroy(self) -> None:
        """Stop and delete the cluster and its directory (throwaway test clusters)."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    # --- internals -----------------------------------------------------------------

    def _init(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(exist_ok=True)
        if not self.pwfile.exists():
            self.pwfile.write_text(secrets.token_urlsafe(24))
        self.pwfile.chmod(0o600)
        pw_for_initdb = self.home / ".initdb-pw"
        shutil.copy(self.pwfile, pw_for_initdb)
        self._hand_over(pw_for_initdb)
        self._hand_over(self.sockdir)
        self._hand_over(self.home)
        try:
            self._run(
                [
                    "initdb",
                    "-D",
                    str(self.datadir),
                    "-U",
                    _SUPERUSER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pw_for_initdb}",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pw_for_initdb.unlink(missing_ok=True)
        self.logfile.touch()
        self._hand_over(self.logfile)

    def _ensure_database(self) -> None:
        env = {**os.environ, "PGPASSWORD": self.pwfile.read_text().strip()}
        base = ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", _SUPERUSER, "-tAq"]
        exists = subprocess.run(
            [
                *base,
                "-d",
                "postgres",
                "-c",
                f"SELECT 1 FROM pg_database WHERE datname = '{_DB_NAME}'",
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if exists.returncode != 0:
            raise EmbeddedDatabaseError(f"cannot reach the embedded database: {exists.stderr}")
        if exists.stdout.strip() != "1":
            subprocess.run(
                [*base, "-d", "postgres", "-c", f"CREATE DATABASE {_DB_NAME}"],
                check=True,
                env=env,
                capture_output=True,
            )
        subprocess.run(
            [*base, "-d", _DB_NAME, "-c", "CREATE EXTENSION IF NOT EXISTS postgis"],
            check=True,
            env=env,
            capture_output=True,
        )

    def _hand_over(self, path: Path) -> None:
        """As root, give the path to the postgres user, who runs the server."""
        if os.geteuid() == 0:
            shutil.chown(path, user="postgres", group="postgres")
            for parent in path.parents:  # postgres must be able to traverse to it
                if parent == Path("/"):
                    break
                parent.chmod(parent.stat().st_mode | 0o011)

    def _run(self, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(_bindir() / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            hint = f" (log: {self.logfile})" if self.logfile.exists() else ""
            raise EmbeddedDatabaseError(
                f"{args[0]} failed: {detail[-1] if detail else result.returncode}{hint}"
            )
        return result


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    """A free loopback port (for throwaway clusters)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_cluster() -> Cluster:
    port = int(os.environ.get("GRIDMAP_DB_PORT", DEFAULT_PORT))
    return Cluster(default_home(), port)
