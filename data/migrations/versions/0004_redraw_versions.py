"""redraw: versions carry valid_from, their region and when they were applied; incidents are
filed only with a grid current at filing time

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# The grid an incident is filed with: the one the API's index chose when it is still current
# at this instant (its row share-locked until the incident commits, so a redraw retiring it
# waits and then reassigns the incident), else the point→grid rule evaluated here, on the
# grids current now. Every statement of a plpgsql function sees what committed before it ran,
# so a grid retired by a redraw that committed while this one waited is seen as retired.
FILING_GRID = """
CREATE FUNCTION gridmap_filing_grid(p_code text, p_geom geometry, p_tol float8)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_code text := p_code;
BEGIN
    FOR attempt IN 1..5 LOOP
        IF v_code IS NOT NULL THEN
            PERFORM 1 FROM grids g
            WHERE g.code = v_code AND g.valid_from <= clock_timestamp()
              AND (g.valid_to IS NULL OR g.valid_to > clock_timestamp())
            FOR KEY SHARE;
            IF FOUND THEN
                RETURN v_code;
            END IF;
        END IF;
        SELECT g.code INTO v_code FROM grids g
        WHERE g.valid_from <= clock_timestamp()
          AND (g.valid_to IS NULL OR g.valid_to > clock_timestamp())
          AND ST_DWithin(g.geom, p_geom, p_tol / 30000.0)
          AND ST_DWithin(g.geom::geography, p_geom::geography, p_tol)
        ORDER BY ST_Covers(g.geom, p_geom) DESC,
                 ST_Distance(g.geom::geography, p_geom::geography), g.code
        LIMIT 1;
        IF v_code IS NULL THEN
            RETURN NULL;
        END IF;
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
    op.execute("DROP FUNCTION gridmap_filing_grid(text, geometry, float8)")
    op.drop_index("ix_grids_valid_to", table_name="grids")
    op.drop_index("ix_grid_versions_pending", table_name="grid_versions")
    op.drop_column("grid_versions", "region")
    op.drop_column("grid_versions", "applied_at")
    op.drop_column("grid_versions", "valid_from")
