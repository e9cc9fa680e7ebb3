"""The audit trail: who changed what, written in the same transaction as the change."""

from __future__ import annotations

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
