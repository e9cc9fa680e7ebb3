"""redraw: versions carry valid_from, their region and when they were applied; incidents are
filed only with the grid the point→grid rule gives at filing time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# The grid an incident is filed with. The API locates the point in its in-memory index and
# passes the index's grid state (the change counter it was built at) and the time until which
# it holds (a future redraw's valid_from). When the counter is unchanged and that time not
# reached, the index's answer stands; otherwise the point→grid rule is evaluated here, on the
# grids current now. First, a shared transaction-level advisory lock on the grid's code (''
# for none) is taken: a redraw takes the same lock exclusively for every grid it changes or
# retires before it writes. So a redraw waits for incidents being filed with those grids (and
# its reassignment then sees them), and an incident arriving while a redraw holds the lock
# waits for its commit; each statement of a plpgsql function sees what committed before it
# ran, so it then sees the new counter and locates the point again.
FILING_GRID = """
CREATE FUNCTION gridmap_grid_lock_key(p_code text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtextextended('gridmap.grid:' || p_code, 0) $$;

CREATE FUNCTION gridmap_filing_grid(
    p_code text, p_geom geometry, p_tol float8, p_state bigint, p_until timestamptz)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_code text := p_code;
    v_state bigint := p_state;
    v_until timestamptz := p_until;
BEGIN
    FOR attempt IN 1..5 LOOP
        PERFORM pg_advisory_xact_lock_shared(gridmap_grid_lock_key(coalesce(v_code, '')));
        IF v_state IS NOT NULL
           AND v_state = (SELECT version FROM dataset_versions WHERE name = 'grids')
           AND (v_until IS NULL OR v_until > clock_timestamp()) THEN
            RETURN v_code;
        END IF;
        -- the counter first, then the grids: a change in between makes the next check fail
        v_state := coalesce((SELECT version FROM dataset_versions WHERE name = 'grids'), 0);
        SELECT least(
            (SELECT min(valid_from) FROM grids WHERE valid_from > clock_timestamp()),
            (SELECT min(valid_to) FROM grids WHERE valid_to > clock_timestamp()))
        INTO v_until;
        v_code := (
            SELECT g.code FROM grids g
            WHERE g.valid_from <= clock_timestamp()
              AND (g.valid_to IS NULL OR g.valid_to > clock_timestamp())
              AND ST_DWithin(g.geom, p_geom, p_tol / 30000.0)
              AND ST_DWithin(g.geom::geography, p_geom::geography, p_tol)
            ORDER BY ST_Covers(g.geom, p_geom) DESC,
                     ST_Distance(g.geom::geography, p_geom::geography), g.code COLLATE "C"
            LIMIT 1);
    END LOOP;
    RETURN v_code;
END $$
"""


def upgrade() -> None:
    op.add_column("grid_versions", sa.Column("valid_from", sa.DateTime(timezone=True)))
    op.add_column("grid_versions", sa.Column("applied_at", sa.DateTime(timezone=True)))
    op.add_column(
        "grid_versions",
        sa.Column("region", Geometry("GEOMETRY", srid=4326, spatial_index=False)),
    )
    op.execute("UPDATE grid_versions SET valid_from = created_at, applied_at = created_at")
    op.create_index(
        "ix_grid_versions_pending",
        "grid_versions",
        ["valid_from"],
        postgresql_where=sa.text("applied_at IS NULL"),
    )
    op.create_index("ix_grids_valid_to", "grids", ["valid_to"])
    op.execute(FILING_GRID)


def downgrade() -> None:
    op.execute("DROP FUNCTION gridmap_filing_grid(text, geometry, float8, bigint, timestamptz)")
    op.execute("DROP FUNCTION gridmap_grid_lock_key(text)")
    op.drop_index("ix_grids_valid_to", table_name="grids")
    op.drop_index("ix_grid_versions_pending", table_name="grid_versions")
    op.drop_column("grid_versions", "region")
    op.drop_column("grid_versions", "applied_at")
    op.drop_column("grid_versions", "valid_from")
