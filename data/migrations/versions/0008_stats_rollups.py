"""incident statistics rollups

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

``incident_rollups``: per UTC day and per UTC month of ``reported_at`` (``span`` ``d`` /
``m``), per grid (``dim`` ``g``), category (``c``) and assignee (``w``), how many incidents
were reported and how many of them are open, closed, rejected and closed by their deadline
(a hot key — a category, or nobody's — spread over up to 16 ``shard`` rows, summed on read).
One statement-level trigger per write kind on ``incidents`` keeps it, in the transaction of
the write, whoever writes (intake, a lifecycle step, a merge, a history import, a redraw
moving open incidents, removals, the sample loader): the trigger nets the old and the new
rows of the statement per bucket, so a step that changes nothing counted (reported →
accepted) writes nothing, and a bulk import adds one upsert per bucket, not per row.
``data.stats`` reads whole days and months from here and only the part-days at a period's
edges, the overdue counts (which depend on now) and the medians from ``incidents``.
A partial covering index on open incidents answers the overdue counts; one on closed
incidents, in grid order and then in order of hours to close, answers the medians (it
replaces 0003's ``ix_incidents_stats_grid_order``).
"""

from collections.abc import Sequence

from alembic import op

from data.lifecycle import OPEN, sql_list

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

# hours from report to closing, as data.stats computes it (the expression of an index)
CLOSE_HOURS = "date_part('epoch', closed_at - reported_at) / 3600.0"

# the counted state of a set of incident rows (``src``: sign, then the incidents columns),
# summed per bucket: both spans, all three groupings
_DELTAS = f"""
    WITH d AS (
        SELECT s.sign, (s.reported_at AT TIME ZONE 'UTC')::date AS day,
               s.grid_code, s.category::text AS category, s.assignee::text AS worker,
               s.status IN ({sql_list(OPEN)}) AS is_open, s.status = 'closed' AS is_closed,
               s.status = 'rejected' AS is_rejected,
               s.status = 'closed' AND s.closed_at <= s.due_at AS on_time
        FROM ({{src}}) s),
    e AS (
        SELECT v.span, v.bucket, v.dim, v.key,
               sum(d.sign) AS total,
               coalesce(sum(d.sign) FILTER (WHERE d.is_open), 0) AS open,
               coalesce(sum(d.sign) FILTER (WHERE d.is_closed), 0) AS closed,
               coalesce(sum(d.sign) FILTER (WHERE d.is_rejected), 0) AS rejected,
               coalesce(sum(d.sign) FILTER (WHERE d.on_time), 0) AS closed_on_time
        FROM d, LATERAL (VALUES
            ('d', d.day, 'g', d.grid_code), ('d', d.day, 'c', d.category),
            ('d', d.day, 'w', d.worker),
            ('m', date_trunc('month', d.day)::date, 'g', d.grid_code),
            ('m', date_trunc('month', d.day)::date, 'c', d.category),
            ('m', date_trunc('month', d.day)::date, 'w', d.worker)) v(span, bucket, dim, key)
        GROUP BY 1, 2, 3, 4)
    INSERT INTO incident_rollups AS r (span, bucket, dim, key, shard, total, open, closed,
                                       rejected, closed_on_time)
    SELECT span, bucket, dim, key, {{shard}}, total, open, closed, rejected, closed_on_time
    FROM e
    WHERE total <> 0 OR open <> 0 OR closed <> 0 OR rejected <> 0 OR closed_on_time <> 0
    ORDER BY span, bucket, dim, key  -- one lock order for every writer
    ON CONFLICT (span, bucket, dim, key, shard) DO UPDATE SET
        total = r.total + excluded.total, open = r.open + excluded.open,
        closed = r.closed + excluded.closed, rejected = r.rejected + excluded.rejected,
        closed_on_time = r.closed_on_time + excluded.closed_on_time
"""
# Every intake of a day adds to that day's row of its category and of "no assignee": rows
# that concurrent writers would queue for. Those (categories, and the keys of nobody) are
# spread over 16 rows per key by the writing backend, so concurrent transactions (one per
# backend) rarely touch the same row; grids and assignees are many, so theirs stay one row.
_SHARD = "CASE WHEN dim = 'c' OR key IS NULL THEN pg_backend_pid() % 16 ELSE 0 END"
_COLUMNS = "reported_at, grid_code, category, assignee, status, closed_at, due_at"
_NEW = f"SELECT 1 AS sign, {_COLUMNS} FROM new_rows"
_OLD = f"SELECT -1 AS sign, {_COLUMNS} FROM old_rows"

UPGRADE = (
    """
    CREATE TABLE incident_rollups (
        span char(1) NOT NULL CHECK (span IN ('d', 'm')),
        bucket date NOT NULL,
        dim char(1) NOT NULL CHECK (dim IN ('g', 'c', 'w')),
        key text,
        shard smallint NOT NULL DEFAULT 0,
        total bigint NOT NULL DEFAULT 0,
        open bigint NOT NULL DEFAULT 0,
        closed bigint NOT NULL DEFAULT 0,
        rejected bigint NOT NULL DEFAULT 0,
        closed_on_time bigint NOT NULL DEFAULT 0,
        CONSTRAINT uq_incident_rollups UNIQUE NULLS NOT DISTINCT (span, bucket, dim, key, shard)
    )
    """,
    f"""
    CREATE FUNCTION gridmap_incident_rollup() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {_DELTAS.format(src=_NEW, shard=_SHARD)};
        ELSIF TG_OP = 'UPDATE' THEN
            {_DELTAS.format(src=_NEW + " UNION ALL " + _OLD, shard=_SHARD)};
        ELSIF TG_OP = 'DELETE' THEN
            {_DELTAS.format(src=_OLD, shard=_SHARD)};
        ELSE  -- TRUNCATE
            DELETE FROM incident_rollups;
        END IF;
        RETURN NULL;
    END
    $fn$
    """,
    "CREATE TRIGGER incident_rollup_insert AFTER INSERT ON incidents "
    "REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION gridmap_incident_rollup()",
    "CREATE TRIGGER incident_rollup_update AFTER UPDATE ON incidents "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION gridmap_incident_rollup()",
    "CREATE TRIGGER incident_rollup_delete AFTER DELETE ON incidents "
    "REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION gridmap_incident_rollup()",
    "CREATE TRIGGER incident_rollup_truncate AFTER TRUNCATE ON incidents "
    "FOR EACH STATEMENT EXECUTE FUNCTION gridmap_incident_rollup()",
    # what is there already
    _DELTAS.format(src=f"SELECT 1 AS sign, {_COLUMNS} FROM incidents", shard="0"),
    # overdue (depends on now): the open incidents of a period, read index-only
    f"""
    CREATE INDEX ix_incidents_open_stats ON incidents (reported_at)
    INCLUDE (due_at, grid_code, category, assignee) WHERE status IN ({sql_list(OPEN)})
    """,
    # the medians: the closed incidents in grid order and, within a grid, in order of the
    # hours they took (percentile_cont's sort then finds each grid's values sorted already);
    # replaces 0003's ix_incidents_stats_grid_order, which the counts no longer need
    f"""
    CREATE INDEX ix_incidents_closed_hours ON incidents (grid_code, ({CLOSE_HOURS}))
    INCLUDE (reported_at, closed_at) WHERE status = 'closed'
    """,
    "DROP INDEX ix_incidents_stats_grid_order",
    "ANALYZE incidents",
    "ANALYZE incident_rollups",
)

DOWNGRADE = (
    "CREATE INDEX ix_incidents_stats_grid_order ON incidents (grid_code, reported_at) "
    "INCLUDE (status, due_at, closed_at)",
    "DROP INDEX ix_incidents_closed_hours",
    "DROP INDEX ix_incidents_open_stats",
    "DROP TRIGGER incident_rollup_truncate ON incidents",
    "DROP TRIGGER incident_rollup_delete ON incidents",
    "DROP TRIGGER incident_rollup_update ON incidents",
    "DROP TRIGGER incident_rollup_insert ON incidents",
    "DROP FUNCTION gridmap_incident_rollup()",
    "DROP TABLE incident_rollups",
)


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
