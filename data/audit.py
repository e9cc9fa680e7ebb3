"""The audit trail: who changed what, written in the same transaction as the change."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from data.models import AuditLog

# A Core insert, not an ORM object: every write records one row, and the unit of work's
# flush cost a lifecycle step more Python time than its own SQL did.
INSERT = insert(AuditLog)


def record(
    *,
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    session.connection().execute(
        INSERT,
        {
            "actor": actor,
            "action": action,
            "entity": entity,
            "entity_id": entity_id,
            "detail": detail,
        },
    )


def insert_for(source: str, *, entity_id: str, detail: str = "'{}'::jsonb") -> str:
    """The audit row as a data-modifying CTE of the change's own statement (one round trip
    less than ``record``): one row per row of ``source``, its ``entity_id`` the SQL expression
    given, its detail ``values_for``'s merged with the ``detail`` SQL object (what only the
    statement knows). Bind ``:actor`` and ``values_for(...)`` with the statement."""
    return (
        "INSERT INTO audit_log (actor, action, entity, entity_id, detail) "
        f"SELECT :actor, :audit_action, :audit_entity, {entity_id}, "
        f"CAST(:audit_detail AS jsonb) || {detail} FROM {source}"
    )


def values_for(*, action: str, entity: str, detail: dict[str, Any]) -> dict[str, Any]:
    """The parameters of ``insert_for`` besides ``:actor``."""
    return {"audit_action": action, "audit_entity": entity, "audit_detail": json.dumps(detail)}
