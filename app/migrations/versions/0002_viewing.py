"""Viewing sessions, their events, per-session slide rollups and feedback.

Revision ID: 0002_viewing
Revises: 0001_identity_and_decks
Create Date: 2026-11-26 06:11:17.442034
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_viewing"
down_revision: str | None = "0001_identity_and_decks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("presentation_id", sa.Uuid(), nullable=False),
        sa.Column("viewer_id", sa.Uuid(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("interests", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.Column("contact_email", sa.String(length=254), nullable=True),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("rating >= 1 AND rating <= 5", name=op.f("ck_feedback_rating_range")),
        sa.ForeignKeyConstraint(
            ["presentation_id"],
            ["presentations.id"],
            name=op.f("fk_feedback_presentation_id_presentations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["viewer_id"], ["users.id"], name=op.f("fk_feedback_viewer_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("presentation_id", "viewer_id", name=op.f("uq_feedback_presentation_id")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_viewer_id"), ["viewer_id"], unique=False)

    op.create_table(
        "viewing_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("presentation_id", sa.Uuid(), nullable=False),
        sa.Column("viewer_id", sa.Uuid(), nullable=False),
        sa.Column("slide_count", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "end_reason",
            sa.Enum(
                "session_end",
                "idle",
                name="session_end_reason",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("furthest_slide", sa.Integer(), nullable=True),
        sa.Column("reached_last_slide", sa.Boolean(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("events_version", sa.Integer(), nullable=False),
        sa.Column("rollup_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["presentation_id"],
            ["presentations.id"],
            name=op.f("fk_viewing_sessions_presentation_id_presentations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["viewer_id"], ["users.id"], name=op.f("fk_viewing_sessions_viewer_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_viewing_sessions")),
    )
    with op.batch_alter_table("viewing_sessions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_viewing_sessions_presentation_started", ["presentation_id", "started_at"], unique=False
        )
        batch_op.create_index(
            "ix_viewing_sessions_viewer_presentation", ["viewer_id", "presentation_id"], unique=False
        )

    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "slide_enter",
                "slide_leave",
                "heartbeat",
                "session_end",
                name="event_type",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("slide_index", sa.Integer(), nullable=False),
        sa.Column("client_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["viewing_sessions.id"],
            name=op.f("fk_events_session_id_viewing_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("session_id", "event_id", name=op.f("uq_events_session_id")),
    )
    op.create_table(
        "session_slide_stats",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("slide_index", sa.Integer(), nullable=False),
        sa.Column("presentation_id", sa.Uuid(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("dwell_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["viewing_sessions.id"],
            name=op.f("fk_session_slide_stats_session_id_viewing_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["presentation_id"],
            ["presentations.id"],
            name=op.f("fk_session_slide_stats_presentation_id_presentations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "slide_index", name=op.f("pk_session_slide_stats")),
    )
    with op.batch_alter_table("session_slide_stats", schema=None) as batch_op:
        batch_op.create_index(
            "ix_session_slide_stats_presentation_slide",
            ["presentation_id", "slide_index", "dwell_seconds"],
            unique=False,
            postgresql_include=["visits"],
        )


def downgrade() -> None:
    with op.batch_alter_table("session_slide_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_session_slide_stats_presentation_slide")

    op.drop_table("session_slide_stats")
    op.drop_table("events")
    with op.batch_alter_table("viewing_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_viewing_sessions_viewer_presentation")
        batch_op.drop_index("ix_viewing_sessions_presentation_started")

    op.drop_table("viewing_sessions")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_viewer_id"))

    op.drop_table("feedback")
