"""Data for the benchmarks, written straight into PostgreSQL: users, decks, and a million events in SQL.

The million-event deck: 20 slides, 500 viewers, 5,000 sessions of 200 events each (one every ~5 s of
server time, with jitter so dwell times vary). Session i reaches slide i % 20, so drop-offs spread over
every slide and 1 in 20 sessions completes. All sessions have ended (idle) and their slide rollups are
stale, exactly as after a burst of ingestion: the first analytics read ("cold") builds them.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from app.models.presentations import Audience, Presentation, Slide
from app.models.users import Role, User

SLIDES = 20
VIEWERS = 500
SESSIONS = 5_000
EVENTS_PER_SESSION = 200


def create_user(session: Session, email: str, role: Role) -> User:
    # Bench users never log in (tokens are minted directly), so no real password hash is needed.
    user = User(email=email, username=email.split("@")[0], password_hash="!", role=role)
    session.add(user)
    session.commit()
    return user


def create_deck(session: Session, owner: User, title: str) -> Presentation:
    deck = Presentation(
        title=title,
        owner_id=owner.id,
        audience=Audience.everyone,
        slides=[Slide(position=index, title=f"Slide {index + 1}", content="...") for index in range(SLIDES)],
    )
    session.add(deck)
    session.commit()
    return deck


def load_million_events(engine: Engine, deck_id: uuid.UUID) -> int:
    """Generate the sessions and events of the big deck with generate_series; returns the event count."""
    parameters = {"deck": deck_id, "slides": SLIDES, "viewers": VIEWERS, "sessions": SESSIONS}
    with engine.begin() as connection:
        connection.execute(
            text(
                """
                INSERT INTO users
                    (id, email, username, password_hash, role, is_active, created_at, updated_at)
                SELECT gen_random_uuid(), 'bench-viewer-' || g || '@example.com', 'viewer' || g, '!',
                       'viewer',
                       true, now(), now()
                FROM generate_series(1, :viewers) AS g
                """
            ),
            parameters,
        )
        connection.execute(
            text(
                """
                WITH viewers AS (
                    SELECT id, row_number() OVER (ORDER BY email) - 1 AS n
                    FROM users WHERE email LIKE 'bench-viewer-%'
                )
                INSERT INTO viewing_sessions (id, presentation_id, viewer_id, slide_count, started_at,
                    last_event_at,
                    ended_at, end_reason, furthest_slide, reached_last_slide, event_count, events_version,
                    rollup_version)
                SELECT gen_random_uuid(), :deck, viewers.id, :slides,
                       timestamptz '2026-01-05 08:00:00+00' + s * interval '37 seconds',
                       timestamptz '2026-01-05 08:00:00+00', NULL, NULL, s % :slides,
                       s % :slides = :slides - 1,
                       0, 1, 0
                FROM generate_series(0, :sessions - 1) AS s
                JOIN viewers ON viewers.n = s % :viewers
                """
            ),
            parameters,
        )
        connection.execute(
            text(
                """
                WITH sessions AS (
                    SELECT id, started_at, furthest_slide AS furthest
                    FROM viewing_sessions WHERE presentation_id = :deck
                )
                INSERT INTO events (event_id, session_id, type, slide_index, client_ts, received_at)
                SELECT gen_random_uuid(), sessions.id,
                       CASE WHEN k % 10 = 0 AND k / 10 <= sessions.furthest THEN 'slide_enter'
                            ELSE 'heartbeat' END,
                       least(k / 10, sessions.furthest),
                       sessions.started_at + k * interval '5 seconds',
                       sessions.started_at + k * interval '5 seconds' + random() * interval '4 seconds'
                FROM sessions CROSS JOIN generate_series(0, :per_session - 1) AS k
                """
            ),
            parameters | {"per_session": EVENTS_PER_SESSION},
        )
        connection.execute(
            text(
                """
                UPDATE viewing_sessions AS v
                SET last_event_at = last.received_at, ended_at = last.received_at, end_reason = 'idle',
                    event_count = last.events
                FROM (SELECT session_id, max(received_at) AS received_at, count(*) AS events
                      FROM events GROUP BY session_id) AS last
                WHERE v.id = last.session_id AND v.presentation_id = :deck
                """
            ),
            parameters,
        )
        loaded = connection.execute(
            text(
                "SELECT count(*) FROM events JOIN viewing_sessions v ON v.id = events.session_id "
                "WHERE v.presentation_id = :deck"
            ),
            parameters,
        ).scalar_one()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return int(loaded)
