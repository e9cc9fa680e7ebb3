"""Every document reference resolves inside the repository: markdown links, paths named in
the docs, docstrings and comments, and every ``*.md`` file named anywhere. A fresh clone has
nothing outside it, so a reference to a file it lacks is a dangling one."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[1]
TOP = ("geo", "api", "maps", "data", "tests", "bench", "docs", ".ci")
LINK = re.compile(r"\]\(([^)\s]+)\)")
PATH = re.compile(rf"(?<![\w/.-])((?:{'|'.join(re.escape(t) for t in TOP)})/[\w./*{{}}-]*[\w*/])")
MARKDOWN = re.compile(r"(?<![\w/.-])([\w./-]+\.md)\b")


def _tracked(*patterns: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / p for p in listed if "vendor" not in p and "/static/docs/" not in p]


def _exists(ref: str, base: Path, names: set[str]) -> bool:
    ref = ref.split("#")[0].rstrip("/.")
    if not ref or ("/" not in ref and ref in names):  # a bare file name: some file has it
        return True
    if "{" in ref:  # a template such as /tiles/{layer}/…: its fixed head must exist
        ref = ref.split("{")[0].rstrip("/")
    for where in (base, ROOT):
        if any(ch in ref for ch in "*?"):
            if list(where.glob(ref)):
                return True
        elif (where / ref).exists():
            return True
    return False


def _dangling(path: Path, text: str, names: set[str]) -> list[str]:
    refs = set(MARKDOWN.findall(text)) | set(PATH.findall(text))
    if path.suffix == ".md":
        refs |= {r for r in LINK.findall(text) if not re.match(r"[a-z]+:|#", r)}
    return sorted(r for r in refs if not _exists(r, path.parent, names))


def test_docs_name_only_files_in_the_repo() -> None:
    files = _tracked("*.md", "*.py", "*.toml", "Makefile", "*.js", "*.css")
    names = {f.name for f in _tracked()}
    assert "design.md" in names
    problems = {
        str(f.relative_to(ROOT)): bad
        for f in files
        if f.is_file()
        and f != Path(__file__)
        and (bad := _dangling(f, f.read_text(encoding="utf-8", errors="replace"), names))
    }
    assert not problems, f"dangling references: {problems}"


def test_the_checker_sees_a_dangling_reference() -> None:
    names = {"design.md", "locate.py"}
    text = "see `DESIGN.md` and [x](docs/nope.md), not `docs/design.md` or `geo/locate.py`"
    assert _dangling(ROOT / "README.md", text, names) == ["DESIGN.md", "docs/nope.md"]
