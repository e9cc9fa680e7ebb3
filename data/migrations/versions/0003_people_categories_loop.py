"""people, categories and the closed loop

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

People (grid workers and other handlers) and the grids they look after; API keys that belong
to a person; the categories (Open311 services) seeded from data.lifecycle.CATEGORY_SEED; the
incident columns the loop needs (assignee, merged_into, address, media_url, version for the
ETag, updated_at); event columns naming the acting and the assigned person; and the indexes
the statistics use. Grid workers named on current grids become people (one per name and
phone) looking after those grids.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data.lifecycle import CATEGORY_SEED, OPEN, PERSON_ROLES, PRIORITIES, sql_list

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

_NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.CheckConstraint(f"role IN ({sql_list(PERSON_ROLES)})", name=op.f("ck_people_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
    )
    op.create_table(
        "person_grids",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("grid_code", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_person_grids_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", "grid_code", name=op.f("pk_person_grids")),
    )
    op.create_index("ix_person_grids_grid_code", "person_grids", ["grid_code"])
    categories = op.create_table(
        "categories",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            f"priority IN ({sql_list(PRIORITIES)})", name=op.f("ck_categories_priority")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_categories")),
    )
    op.bulk_insert(
        categories,
        [
            {"code": code, "name_zh": zh, "name_en": en, "priority": priority}
            for code, zh, en, priority in CATEGORY_SEED
        ],
    )
    op.add_column("api_keys", sa.Column("person_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_api_keys_person_id_people"), "api_keys", "people", ["person_id"], ["id"]
    )
    for column in (
        sa.Column("assignee", sa.Integer(), nullable=True),
        sa.Column("merged_into", sa.BigInteger(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("media_url", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
    ):
        op.add_column("incidents", column)
    op.create_foreign_key(
        op.f("fk_incidents_assignee_people"), "incidents", "people", ["assignee"], ["id"]
    )
    op.create_foreign_key(
        op.f("fk_incidents_merged_into_incidents"),
        "incidents",
        "incidents",
        ["merged_into"],
        ["id"],
    )
    op.create_index(
        "ix_incidents_stats_grid",
        "incidents",
        ["reported_at", "grid_code"],
        postgresql_include=["status", "due_at", "closed_at"],
    )
    op.create_index(
        "ix_incidents_stats_grid_order",
        "incidents",
        ["grid_code", "reported_at"],
        postgresql_include=["status", "due_at", "closed_at"],
    )
    op.create_index("ix_incidents_assignee", "incidents", ["assignee", "status"])
    op.create_index(
        "ix_incidents_open_due",
        "incidents",
        ["due_at"],
        postgresql_where=sa.text(f"status IN ({sql_list(OPEN)})"),
    )
    op.add_column("incident_events", sa.Column("actor_person", sa.Integer(), nullable=True))
    op.add_column("incident_events", sa.Column("assignee", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_incident_events_actor_person_people"),
        "incident_events",
        "people",
        ["actor_person"],
        ["id"],
    )
    op.create_foreign_key(
        op.f("fk_incident_events_assignee_people"),
        "incident_events",
        "people",
        ["assignee"],
        ["id"],
    )
    op.create_index("ix_incident_events_to_at", "incident_events", ["to_status", "at"])
    # The workers named on current grids become people looking after those grids.
    op.execute(
        """
        WITH named AS (
            SELECT DISTINCT worker_name AS name, worker_phone AS phone FROM grids
            WHERE valid_to IS NULL AND worker_name IS NOT NULL)
        INSERT INTO people (name, phone, role) SELECT name, phone, 'worker' FROM named
        ORDER BY name, phone
        """
    )
    op.execute(
        """
        INSERT INTO person_grids (person_id, grid_code)
        SELECT p.id, g.code FROM grids g JOIN people p
          ON p.name = g.worker_name AND p.phone IS NOT DISTINCT FROM g.worker_phone
        WHERE g.valid_to IS NULL
        """
    )


def downgrade() -> None:
    op.drop_index("ix_incident_events_to_at", table_name="incident_events")
    op.drop_constraint(
        op.f("fk_incident_events_assignee_people"), "incident_events", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_incident_events_actor_person_people"), "incident_events", type_="foreignkey"
    )
    op.drop_column("incident_events", "assignee")
    op.drop_column("incident_events", "actor_person")
    op.drop_index("ix_incidents_open_due", table_name="incidents")
    op.drop_index("ix_incidents_assignee", table_name="incidents")
    op.drop_index("ix_incidents_stats_grid_order", table_name="incidents")
    op.drop_index("ix_incidents_stats_grid", table_name="incidents")
    op.drop_constraint(op.f("fk_incidents_merged_into_incidents"), "incidents", type_="foreignkey")
    op.drop_constraint(op.f("fk_incidents_assignee_people"), "incidents", type_="foreignkey")
    for name in ("updated_at", "version", "media_url", "address", "merged_into", "assignee"):
        op.drop_column("incidents", name)
    op.drop_constraint(op.f("fk_api_keys_person_id_people"), "api_keys", type_="foreignkey")
    op.drop_column("api_keys", "person_id")
    op.drop_table("categories")
    op.drop_index("ix_person_grids_grid_code", table_name="person_grids")
    op.drop_table("person_grids")
    op.drop_table("people")
