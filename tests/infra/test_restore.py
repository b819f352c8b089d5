"""The operator's restore command (infra/restore.py): what it asks of pgBackRest; the e2e runs it for real."""

from __future__ import annotations

import pytest

from infra.restore import main, restore_arguments


def test_latest_from_a_repository_rewrites_only_what_differs() -> None:
    assert restore_arguments(2, None) == ["pgbackrest", "--stanza=pap", "--repo=2", "--delta", "restore"]


def test_a_point_in_time_is_replayed_to_and_then_promoted() -> None:
    assert restore_arguments(1, "2026-12-04 10:15:00+00") == [
        "pgbackrest",
        "--stanza=pap",
        "--repo=1",
        "--delta",
        "--type=time",
        "--target=2026-12-04 10:15:00+00",
        "--target-action=promote",
        "restore",
    ]


def test_an_unknown_repository_is_refused_before_anything_stops(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["--stack", "dev", "--repo", "3"])
    assert raised.value.code == 2
    assert "--repo: invalid choice: 3 (choose from 1, 2)" in capsys.readouterr().err
