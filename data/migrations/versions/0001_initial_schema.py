"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from data.lifecycle import INITIAL, PRIORITIES, STATUSES, sql_list

revision: str = "0001"
down_revision: str | None = None
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('viewer', 'reporter', 'admin')", name=op.f("ck_api_keys_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.Text(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_table(
        "buildings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("levels", sa.Integer(), nullable=True),
        sa.Column("households", sa.Integer(), server_default="0", nullable=False),
        sa.Column("population", sa.Integer(), server_default="0", nullable=False),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.Column("grid_code", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildings")),
    )
    op.create_index(
        "ix_buildings_geom", "buildings", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index(op.f("ix_buildings_grid_code"), "buildings", ["grid_code"], unique=False)
    op.create_table(
        "grid_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_versions")),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=True),
        sa.Column("category", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("priority", sa.String(length=16), server_default=PRIORITIES[0], nullable=False),
        sa.Column("status", sa.String(length=16), server_default=INITIAL, nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("grid_code", sa.String(length=64), nullable=True),
        sa.Column(
            "reported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reporter", sa.Text(), nullable=True),
        sa.CheckConstraint(
            f"priority IN ({sql_list(PRIORITIES)})", name=op.f("ck_incidents_priority")
        ),
        sa.CheckConstraint(f"status IN ({sql_list(STATUSES)})", name=op.f("ck_incidents_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("client_id", name=op.f("uq_incidents_client_id")),
    )
    op.create_index(
        "ix_incidents_geom", "incidents", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_index("ix_incidents_grid_status", "incidents", ["grid_code", "status"], unique=False)
    op.create_index("ix_incidents_reported", "incidents", ["reported_at", "id"], unique=False)
    op.create_table(
        "network_nodes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_nodes")),
    )
    op.create_index(
        "ix_network_nodes_geom", "network_nodes", ["geom"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "regions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent", sa.String(length=64), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "level IN ('district', 'street', 'community')", name=op.f("ck_regions_level")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
        sa.UniqueConstraint("code", name=op.f("uq_regions_code")),
    )
    op.create_index("ix_regions_geom", "regions", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "stations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("level", sa.Integer(), server_default="15", nullable=False),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.CheckConstraint("level IN (5, 10, 15)", name=op.f("ck_stations_level")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stations")),
    )
    op.create_index("ix_stations_geom", "stations", ["geom"], unique=False, postgresql_using="gist")
    op.create_table(
        "grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("community", sa.String(length=64), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("households", sa.Integer(), server_default="0", nullable=False),
        sa.Column("worker_name", sa.Text(), nullable=True),
        sa.Column("worker_phone", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["version"], ["grid_versions.id"], name=op.f("fk_grids_version_grid_versions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grids")),
    )
    op.create_index("ix_grids_code_valid", "grids", ["code", "valid_from"], unique=False)
    op.create_index("ix_grids_geom", "grids", ["geom"], unique=False, postgresql_using="gist")
    op.create_index(
        "uq_grids_current_code",
        "grids",
        ["code"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_table(
        "incident_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_events_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
    )
    op.create_index(
        op.f("ix_incident_events_incident_id"), "incident_events", ["incident_id"], unique=False
    )
    op.create_table(
        "network_edges",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("osm_id", sa.Text(), nullable=True),
        sa.Column("highway", sa.Text(), nullable=True),
        sa.Column(
            "geom",
            geoalchemy2.types.Geometry(
                geometry_type="LINESTRING",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["source"], ["network_nodes.id"], name=op.f("fk_network_edges_source_network_nodes")
        ),
        sa.ForeignKeyConstraint(
            ["target"], ["network_nodes.id"], name=op.f("fk_network_edges_target_network_nodes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_edges")),
    )
    op.create_index(
        "ix_network_edges_geom", "network_edges", ["geom"], unique=False, postgresql_using="gist"
    )


def downgrade() -> None:
    op.drop_index("ix_network_edges_geom", table_name="network_edges", postgresql_using="gist")
    op.drop_table("network_edges")
    op.drop_index(op.f("ix_incident_events_incident_id"), table_name="incident_events")
    op.drop_table("incident_events")
    op.drop_index(
        "uq_grids_current_code", table_name="grids", postgresql_where=sa.text("valid_to IS NULL")
    )
    op.drop_index("ix_grids_geom", table_name="grids", postgresql_using="gist")
    op.drop_index("ix_grids_code_valid", table_name="grids")
    op.drop_table("grids")
    op.drop_index("ix_stations_geom", table_name="stations", postgresql_using="gist")
    op.drop_table("stations")
    op.drop_index("ix_regions_geom", table_name="regions", postgresql_using="gist")
    op.drop_table("regions")
    op.drop_index("ix_network_nodes_geom", table_name="network_nodes", postgresql_using="gist")
    op.drop_table("network_nodes")
    op.drop_index("ix_incidents_reported", table_name="incidents")
    op.drop_index("ix_incidents_grid_status", table_name="incidents")
    op.drop_index("ix_incidents_geom", table_name="incidents", postgresql_using="gist")
    op.drop_table("incidents")
    op.drop_table("grid_versions")
    op.drop_index(op.f("ix_buildings_grid_code"), table_name="buildings")
    op.drop_index("ix_buildings_geom", table_name="buildings", postgresql_using="gist")
    op.drop_table("buildings")
    op.drop_table("audit_log")
    op.drop_table("api_keys")
