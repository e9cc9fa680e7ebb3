"""resident report page: device tokens, which token filed which incident, and photos

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_device_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_device_tokens_token_hash"),
    )
    op.create_table(
        "device_reports",
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", name="pk_device_reports"),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name="fk_device_reports_incident_id_incidents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["device_tokens.id"], name="fk_device_reports_token_id_device_tokens"
        ),
    )
    op.create_index("ix_device_reports_token_id", "device_reports", ["token_id", "incident_id"])
    op.create_table(
        "photos",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("storage_key", sa.Text(), nullable=False),
        sa.Column("thumb_key", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("exif_lon", sa.Float(), nullable=True),
        sa.Column("exif_lat", sa.Float(), nullable=True),
        sa.Column("uploaded_by", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_photos"),
        sa.UniqueConstraint("storage_key", name="uq_photos_storage_key"),
        sa.CheckConstraint("kind IN ('report', 'handling')", name=op.f("ck_photos_kind")),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name="fk_photos_incident_id_incidents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["incident_events.id"],
            name="fk_photos_event_id_incident_events",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_photos_incident_id", "photos", ["incident_id"])


def downgrade() -> None:
    op.drop_table("photos")
    op.drop_table("device_reports")
    op.drop_table("device_tokens")
