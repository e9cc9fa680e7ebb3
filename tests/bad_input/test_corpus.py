"""The bad-input corpus (every ``*.json`` here, one request per entry with why it is wrong):
each is answered 4xx problem+json, and every table is byte-identical before and after the
whole run. Add entries for every new endpoint's awkward inputs (a file per area keeps merges
apart); ``raw`` bodies are sent as latin-1 bytes, ``role`` picks a key of that role,
``device`` sends a fresh device token of the report page, and ``multipart`` sends a form:
``{"fields": {...}, "files": [{"field", "name", "type", "content" (latin-1), "pad"?}]}``
(``pad`` zero bytes appended)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from data.reports import issue_token
from tests.api.test_hostile import checksum

pytestmark = pytest.mark.postgis

CORPUS: list[dict[str, Any]] = [
    entry
    for file in sorted(Path(__file__).parent.glob("*.json"))
    for entry in json.loads(file.read_text(encoding="utf-8"))
]


def test_the_corpus_is_large_and_explained() -> None:
    assert len(CORPUS) >= 80
    assert all(entry["why"] for entry in CORPUS)


def test_every_bad_request_is_a_4xx_problem_and_writes_nothing(
    client: TestClient,
    session: Session,
    viewer_key: str,
    reporter_key: str,
    admin_key: str,
) -> None:
    keys = {"viewer": viewer_key, "reporter": reporter_key, "admin": admin_key}
    devices = [issue_token(session=session)[0] if e.get("device") else None for e in CORPUS]
    before = checksum(session)
    wrong = []
    for entry, device in zip(CORPUS, devices, strict=True):
        headers = dict(entry.get("headers", {}))
        if "role" in entry:
            headers["X-API-Key"] = keys[entry["role"]]
        if device is not None:
            headers["X-Device-Token"] = device
        kwargs: dict[str, Any] = {"params": entry.get("query"), "headers": headers}
        if "json" in entry:
            kwargs["content"] = json.dumps(entry["json"]).encode()  # escapes kept as sent
            headers["Content-Type"] = "application/json"
        elif "raw" in entry:
            kwargs["content"] = entry["raw"].encode("latin-1")
            headers["Content-Type"] = "application/json"
        elif "multipart" in entry:
            kwargs["data"] = entry["multipart"].get("fields", {})
            kwargs["files"] = [
                (
                    f["field"],
                    (
                        f["name"],
                        f["content"].encode("latin-1") + b"\0" * f.get("pad", 0),
                        f["type"],
                    ),
                )
                for f in entry["multipart"].get("files", [])
            ] or None
        answer = client.request(entry["method"], entry["path"], **kwargs)
        problem = answer.headers.get("content-type", "").startswith("application/problem+json")
        if not (400 <= answer.status_code < 500 and problem):
            wrong.append((entry["why"], entry["method"], entry["path"], answer.status_code))
    assert not wrong, wrong
    assert checksum(session) == before
