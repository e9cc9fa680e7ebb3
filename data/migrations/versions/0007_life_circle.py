"""life-circle compliance: facility kinds and per-kind results

The ``facility_kinds`` table seeded with the GB 50180-2018 defaults
(data.facility_kinds.FACILITY_KIND_SEED) and versioned by the ``dataset_versions`` trigger
of migration 0002, so an edit makes stored compliance runs stale; compliance runs and their
per-building, per-kind walk distances.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from data.facility_kinds import FACILITY_KIND_SEED

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    kinds = op.create_table(
        "facility_kinds",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("station_kinds", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.CheckConstraint("minutes IN (5, 10, 15)", name=op.f("ck_facility_kinds_minutes")),
        sa.CheckConstraint(
            "distance_m IS NULL OR distance_m > 0", name=op.f("ck_facility_kinds_distance_m")
        ),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_facility_kinds")),
    )
    op.bulk_insert(
        kinds,
        [
            {
                "kind": k.kind,
                "name_zh": k.name_zh,
                "name_en": k.name_en,
                "minutes": k.minutes,
                "distance_m": k.distance_m,
                "station_kinds": list(k.station_kinds),
            }
            for k in FACILITY_KIND_SEED
        ],
    )
    op.execute(
        "CREATE TRIGGER bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        "ON facility_kinds FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_version()"
    )
    op.create_table(
        "compliance_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("speed_m_per_min", sa.Float(), nullable=False),
        sa.Column("max_access_m", sa.Float(), nullable=False),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("kinds", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_runs")),
    )
    op.create_table(
        "compliance_results",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("building_id", sa.Integer(), nullable=False),
        sa.Column("walk_m", sa.Float(), nullable=True),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["compliance_runs.id"],
            name=op.f("fk_compliance_results_run_id_compliance_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "run_id", "kind", "building_id", name=op.f("pk_compliance_results")
        ),
    )


def downgrade() -> None:
    op.drop_table("compliance_results")
    op.drop_table("compliance_runs")
    op.execute("DROP TRIGGER bump_version ON facility_kinds")
    op.drop_table("facility_kinds")
    op.execute("DELETE FROM dataset_versions WHERE name = 'facility_kinds'")
