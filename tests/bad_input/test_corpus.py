"""The bad-input corpus (every ``*.json`` here, one request per entry with why it is wrong):
each is answered 4xx problem+json, and every table is byte-identical before and after the
whole run. Add entries for every new endpoint's awkward inputs (a file per area keeps merges
apart).

An entry holds ``why``, ``method``, ``path`` and optionally ``query``, ``headers``, a body
(``json``; ``form``, fields sent form-encoded; or ``raw``, sent as latin-1 bytes, as JSON
unless ``headers`` name another Content-Type), ``role`` (a key of that role — ``viewer``,
``reporter``, ``admin``, or ``revoked`` / ``expired`` admin keys — sent as ``X-API-Key``, as
the ``api_key`` field of a ``form``, and in place of ``$KEY`` in ``raw``), ``status`` (the
exact status expected) and ``expect``: ``problem`` (the default) or ``georeport`` (Open311:
GeoReport's ``[{"code", "description"}]``, or ``<errors><error>…`` for a ``.xml`` path, with
``code`` the status), ``device`` (a fresh device token of the report page; ``"revoked"``:
one revoked) and ``multipart``, a form with files: ``{"fields": {...}, "files": [{"field",
"name", "type", "content" (latin-1), "pad"?}]}`` (``pad`` zero bytes appended)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.keys import create_key
from data.reports import issue_token, revoke_device
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
    assert all(entry.get("expect", "problem") in ("problem", "georeport") for entry in CORPUS)
    assert sum(entry.get("expect") == "georeport" for entry in CORPUS) >= 15


def _send(
    client: TestClient, entry: dict[str, Any], key: str | None, device: str | None
) -> Response:
    headers = dict(entry.get("headers", {}))
    if key is not None:
        headers["X-API-Key"] = key
    if device is not None:
        headers["X-Device-Token"] = device
    kwargs: dict[str, Any] = {"params": entry.get("query"), "headers": headers}
    if "json" in entry:
        kwargs["content"] = json.dumps(entry["json"]).encode()  # escapes kept as sent
        headers["Content-Type"] = "application/json"
    elif "form" in entry:
        kwargs["data"] = entry["form"] | ({} if key is None else {"api_key": key})
    elif "raw" in entry:
        kwargs["content"] = entry["raw"].replace("$KEY", key or "").encode("latin-1")
        headers.setdefault("Content-Type", "application/json")
    elif "multipart" in entry:
        kwargs["data"] = entry["multipart"].get("fields", {})
        kwargs["files"] = [
            (
                f["field"],
                (f["name"], f["content"].encode("latin-1") + b"\0" * f.get("pad", 0), f["type"]),
            )
            for f in entry["multipart"].get("files", [])
        ] or None
    return client.request(entry["method"], entry["path"], **kwargs)


def _shape_is_right(entry: dict[str, Any], answer: Response) -> bool:
    kind = answer.headers.get("content-type", "")
    if entry.get("expect", "problem") == "problem":
        return kind.startswith("application/problem+json")
    if entry["path"].endswith(".xml"):
        if not kind.startswith("text/xml"):
            return False
        root = ET.fromstring(answer.content)
        errors = [(e.findtext("code"), e.findtext("description")) for e in root]
        expected = str(answer.status_code)
        return root.tag == "errors" and bool(errors) and all(c == expected and d for c, d in errors)
    body = answer.json() if kind.startswith("application/json") else None
    return (
        isinstance(body, list)
        and bool(body)
        and all(
            isinstance(e, dict)
            and set(e) == {"code", "description"}
            and e["code"] == answer.status_code
            and e["description"]
            for e in body
        )
    )


@pytest.fixture()
def keys(session: Session, viewer_key: str, reporter_key: str, admin_key: str) -> dict[str, str]:
    """A key of each role, and an admin key revoked and one expired."""
    revoked = create_key(session=session, role="admin")
    expired = create_key(session=session, role="admin")
    session.execute(
        text(
            "UPDATE api_keys SET revoked_at = CASE WHEN prefix = :r THEN now() END, "
            "expires_at = CASE WHEN prefix = :e THEN now() - interval '1 minute' END "
            "WHERE prefix IN (:r, :e)"
        ),
        {"r": revoked[:10], "e": expired[:10]},
    )
    return {
        "viewer": viewer_key,
        "reporter": reporter_key,
        "admin": admin_key,
        "revoked": revoked,
        "expired": expired,
    }


def _device(session: Session, kind: bool | str | None) -> str | None:
    """A fresh device token for ``"device": true``, one revoked for ``"device": "revoked"``."""
    if not kind:
        return None
    token, device = issue_token(session=session)
    if kind == "revoked":
        revoke_device(session=session, device_id=device.id)
    return token


def test_every_bad_request_is_a_4xx_problem_and_writes_nothing(
    client: TestClient, session: Session, keys: dict[str, str]
) -> None:
    devices = [_device(session, e.get("device")) for e in CORPUS]
    before = checksum(session)
    wrong = []
    for entry, device in zip(CORPUS, devices, strict=True):
        answer = _send(client, entry, keys[entry["role"]] if "role" in entry else None, device)
        status = answer.status_code
        if not (
            400 <= status < 500
            and entry.get("status", status) == status
            and _shape_is_right(entry, answer)
        ):
            wrong.append((entry["why"], entry["method"], entry["path"], status, answer.text[:200]))
    assert not wrong, wrong
    assert checksum(session) == before
