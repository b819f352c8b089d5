"""CSV exports: content type, a row per session / slide, real CSV quoting, and no formula injection."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models.presentations import Slide
from app.services.csv_export import render_csv, safe_cell
from tests.app.factories import login_headers
from tests.app.test_analytics import ANALYTICS, build_fixture


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_sessions_csv(app: FastAPI, client: TestClient, session: Session) -> None:
    fixture = build_fixture(app, client, session)
    response = client.get(
        f"{ANALYTICS}/presentations/{fixture.deck.id}/export/sessions.csv",
        headers=login_headers(client, fixture.owner),
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        f'filename="presentation-{fixture.deck.id}-sessions.csv"' in response.headers["content-disposition"]
    )
    table = rows(response.text)
    assert table[0] == [
        "session_id",
        "viewer_id",
        "viewer_email",
        "started_at",
        "last_event_at",
        "ended_at",
        "end_reason",
        "duration_seconds",
        "furthest_slide",
        "reached_last_slide",
        "event_count",
    ]
    summary = [(row[2], row[6], row[7], row[8], row[9], row[10]) for row in table[1:]]
    assert summary == [
        ("a@example.com", "session_end", "170.0", "3", "True", "7"),
        ("b@example.com", "idle", "95.0", "1", "False", "3"),
        ("a@example.com", "idle", "50.0", "1", "False", "4"),
        ("c@example.com", "idle", "0.0", "", "False", "0"),
    ]
    assert table[1][3] == "2026-03-02T09:00:00+00:00"


def test_slides_csv_quotes_and_defuses_formulas(app: FastAPI, client: TestClient, session: Session) -> None:
    fixture = build_fixture(app, client, session)
    titles = ['=HYPERLINK("http://evil","click")', 'Costs, "real" ones', "+1 growth", "@SUM(A1)"]
    for slide, title in zip(sorted(fixture.deck.slides, key=lambda s: s.position), titles, strict=True):
        slide.title = title
    session.commit()
    response = client.get(
        f"{ANALYTICS}/presentations/{fixture.deck.id}/export/slides.csv",
        headers=login_headers(client, fixture.owner),
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    table = rows(response.text)
    assert table[0] == [
        "slide_index",
        "title",
        "views",
        "sessions",
        "dwell_mean_seconds",
        "dwell_median_seconds",
        "dwell_p90_seconds",
        "drop_offs",
    ]
    assert [row[1] for row in table[1:]] == [
        '\'=HYPERLINK("http://evil","click")',
        'Costs, "real" ones',
        "'+1 growth",
        "'@SUM(A1)",
    ]
    assert '"Costs, ""real"" ones"' in response.text  # RFC 4180 quoting, done by the csv module
    assert [row[2:] for row in table[1:]] == [
        ["4", "3", "40.0", "30.0", "54.0", "0"],
        ["3", "3", "33.333", "30.0", "54.0", "2"],
        ["1", "1", "60.0", "60.0", "60.0", "0"],
        ["1", "1", "10.0", "10.0", "10.0", "1"],
    ]
    assert isinstance(fixture.deck.slides[0], Slide)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("-2", "'-2"),
        ("+3", "'+3"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("ok", "ok"),
        (-2, -2),
        (None, ""),
    ],
)
def test_safe_cell(value: object, expected: object) -> None:
    assert safe_cell(value) == expected


def test_render_csv_round_trips_newlines_and_quotes() -> None:
    text = render_csv(["a", "b"], [["line1\nline2", 'say "hi"']])
    assert rows(text) == [["a", "b"], ["line1\nline2", 'say "hi"']]
