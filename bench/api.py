"""HTTP load benchmark with wrk against a real server on a throwaway PostGIS.

Measures GET /api/v1/locate (random points over the sample city) and POST
/api/v1/incidents (unique client_ids), then checks that every acknowledged report (201)
is in the database. Goals (issue 4): /locate ≥ 2,000 req/s with p99 < 10 ms;
/incidents ≥ 500 req/s with p99 < 50 ms. JSON → bench/results/api.json.

Run: python -m bench.api [--seconds 15] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg

from data.db import make_engine, migrate, transaction
from data.embedded import Cluster, free_port
from data.keys import create_key
from data.sample_loader import load_sample

RESULTS = Path(__file__).with_name("results")

LOCATE_LUA = """
POINTS = {POINTS}
math.randomseed(42)
request = function()
  local p = POINTS[math.random(#POINTS)]
  return wrk.format("GET", string.format("/api/v1/locate?lon=%.7f&lat=%.7f", p[1], p[2]))
end
"""

INCIDENTS_LUA = """
counter = 0
threads = {}
created = 0
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  created = 0
end
POINTS = {POINTS}
request = function()
  counter = counter + 1
  local p = POINTS[math.random(#POINTS)]
  local lon, lat = p[1], p[2]
  local body = string.format(
    '{"client_id":"bench-%d-%d","category":"bench","description":"load test",' ..
    '"lon":%.6f,"lat":%.6f}',
    tid, counter, lon, lat)
  return wrk.format("POST", "/api/v1/incidents",
    {["Content-Type"] = "application/json", ["X-API-Key"] = "KEY"}, body)
end
response = function(status, headers, body)
  if status == 201 then created = created + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("created") end
  io.write(string.format("CREATED %d\\n", total))
end
"""


def _wrk(url: str, script: str, *, seconds: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    result = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", f.name, url],
        capture_output=True,
        text=True,
    )
    os.unlink(f.name)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed: {result.stderr or result.stdout}")
    out = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    created = re.search(r"CREATED (\d+)", out)
    return {
        "requests_per_s": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        **({"acknowledged": int(created.group(1))} if created else {}),
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


@contextmanager
def load_server(url: str, *, workers: int, keep_alive_s: int = 5) -> Iterator[str]:
    """The API on ``url``'s database under uvicorn with ``workers``, up and healthy; yields its
    base URL and stops it after. No write limit: wrk's one key and address stand for many
    phones or handlers. Idle connections close after ``keep_alive_s`` (uvicorn's default 5 s):
    wrk, when the server closes a connection its ``delay()`` keeps idle, reconnects and sends
    at once besides the delayed request, so a paced run needs a longer one."""
    env = {
        **os.environ,
        "GRIDMAP_DATABASE_URL": url,
        "GRIDMAP_POOL_SIZE": "20",
        "GRIDMAP_WRITE_LIMIT_PER_KEY": "100000000",
        "GRIDMAP_WRITE_LIMIT_PER_IP": "100000000",
    }
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"]
    options = ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    options += ["--timeout-keep-alive", str(keep_alive_s)]
    server = subprocess.Popen([*command, *options, "--no-access-log"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="gridmap-bench-api-")), free_port())
    url = cluster.start()
    stops = ExitStack()  # the server, when started
    try:
        migrate(url)
        engine = make_engine(url, pool_size=1)
        with transaction(engine) as session:
            load_sample(session=session)
            key = create_key(session=session, role="reporter")
        engine.dispose()
        base = stops.enter_context(load_server(url, workers=args.workers))
        with psycopg.connect(url) as conn:  # real addresses: the buildings' locations
            rows = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM buildings").fetchall()
        points = "{" + ",".join(f"{{{x!r},{y!r}}}" for x, y in rows) + "}"
        locate = _wrk(
            base,
            LOCATE_LUA.replace("{POINTS}", points),
            seconds=args.seconds,
            connections=args.connections,
        )
        incidents = _wrk(
            base,
            INCIDENTS_LUA.replace("KEY", key).replace("{POINTS}", points),
            seconds=args.seconds,
            connections=args.connections,
        )
        with psycopg.connect(url) as conn:
            stored = conn.execute(
                "SELECT count(*) FROM incidents WHERE category = 'bench'"
            ).fetchone()[0]  # type: ignore[index]
        incidents["stored"] = stored
        assert stored >= incidents["acknowledged"], "an acknowledged report is missing"
        result = {
            "machine_cores": os.cpu_count(),
            "workers": args.workers,
            "seconds": args.seconds,
            "connections": args.connections,
            "locate": {**locate, "goal": "≥ 2000 req/s, p99 < 10 ms"},
            "incidents": {**incidents, "goal": "≥ 500 req/s, p99 < 50 ms"},
        }
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "api.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    finally:
        stops.close()
        cluster.destroy()


if __name__ == "__main__":
    main()
