"""Incident categories (the Open311 services), seeded by migration 0003; cities add more."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models import Category


def list_categories(*, session: Session) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Category.code, Category.name_zh, Category.name_en, Category.priority).order_by(
            Category.code
        )
    )
    return [dict(r._mapping) for r in rows]


def get_category(*, session: Session, code: str) -> dict[str, Any] | None:
    """One category by code, or None. Core on the session's connection: every filing asks,
    and the ORM's execute costs twice the CPU for a plain row."""
    row = (
        session.connection()
        .execute(
            select(Category.code, Category.name_zh, Category.name_en, Category.priority).where(
                Category.code == code
            )
        )
        .first()
    )
    return None if row is None else dict(row._mapping)
