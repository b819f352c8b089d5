"""Property-based fuzzing of the whole OpenAPI schema (every operation, the viewing side's included),
authenticated as an admin: no generated request may produce a 5xx. At least 1,000 requests in total."""

from __future__ import annotations

import time
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings

from tests.app.conftest import Backend, build_app
from tests.app.factories import access_token, make_presentation, make_user

EXAMPLES_PER_OPERATION = 36
MINIMUM_REQUESTS = 1000
TIME_BUDGET_SECONDS = 90


@schemathesis.serializer("application/pdf")
def _pdf_body(ctx: Any, value: Any) -> bytes:
    """Deck uploads take raw bytes; the generated value (a string for `format: binary`) as they are."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")


def test_no_server_errors_over_generated_requests(redis_backend: Backend) -> None:
    app = build_app(redis_backend)
    with app.state.resources.session_factory() as session:
        admin = make_user(session, role="admin")
        presenter = make_user(session, role="presenter")
        viewer = make_user(session)
        make_presentation(session, presenter, viewers=[viewer], audience="everyone")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {access_token(client, admin)}"}
    requests_sent = 0
    server_errors: list[str] = []
    started = time.monotonic()

    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,  # the same requests every run: a failure reproduces
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            nonlocal requests_sent
            response = case.call(headers=headers)
            requests_sent += 1
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                )

        exercise()
        if time.monotonic() - started > TIME_BUDGET_SECONDS:
            break

    elapsed = time.monotonic() - started
    print(f"schemathesis: {requests_sent} requests over {len(operations)} operations in {elapsed:.1f} s")
    assert server_errors == [], "\n".join(server_errors[:20])
    assert requests_sent >= MINIMUM_REQUESTS, f"only {requests_sent} requests generated"
