"""Fixtures of the policy tests: the real program's recorded plans and the pack's analyzer server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.config import PROJECT
from infra.plan import read_stack_file, record_plan, run_program
from policies.analyzer_client import AnalyzerClient, running_pack


@pytest.fixture(scope="session")
def dev_plan() -> dict[str, Any]:
    return record_plan("dev")


@pytest.fixture(scope="session")
def prod_plan() -> dict[str, Any]:
    return record_plan("prod")


# backup.offsite for the S3 variant of the dev plan (test values; the access key pair is secret config).
S3_OFFSITE = {
    "type": "s3",
    "s3": {
        "bucket": "pap-offsite-backups",
        "endpoint": "s3.eu-west-1.example.com",
        "region": "eu-west-1",
        "key": "AKIAOFFSITETESTKEY01",
        "keySecret": "offsite-test-key-secret-4f2a9c7e1b",
    },
}


@pytest.fixture(scope="session")
def s3_plan() -> dict[str, Any]:
    """The dev plan with the off-host repository in an S3 bucket (backup.offsite.type s3), recorded from the
    real program: the repository service also joins the stack's egress network."""
    config, secret_keys = read_stack_file("dev")
    key = f"{PROJECT}:backup"
    config[key] = json.dumps({**json.loads(config[key]), "offsite": S3_OFFSITE})
    return run_program("dev", config, [*secret_keys, key]).document()


@pytest.fixture(scope="module")
def analyzer() -> Iterator[AnalyzerClient]:
    """One analyzer server per test module, started as the engine starts it (it takes a moment)."""
    with running_pack() as client:
        yield client
