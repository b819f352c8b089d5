"""The README coverage table stays true: each policy listed once with its level, each cited mutation real."""

from __future__ import annotations

import re
from pathlib import Path

from tests.policies.test_analyzer import EXPECTED_POLICIES
from tests.policies.test_mutations import MUTATIONS

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(
    r"^\| (?P<control>[^|]+) \| `(?P<policy>[a-z0-9-]+)` \| (?P<level>\w+) \| (?P<proof>[^|]+) \|$"
)


def _section() -> str:
    text = README.read_text()
    return text[text.index("<!-- section:policies -->") : text.index("<!-- /section:policies -->")]


def test_every_policy_is_in_the_table_with_its_level() -> None:
    rows = [match for line in _section().splitlines() if (match := ROW.match(line))]
    listed = [row["policy"] for row in rows]
    assert sorted(listed) == sorted(EXPECTED_POLICIES)
    assert {row["policy"]: row["level"] for row in rows} == EXPECTED_POLICIES
    assert all(row["proof"].strip() for row in rows)


def test_cited_mutations_exist() -> None:
    cited = set(re.findall(r"M\[([a-z][a-z0-9.-]*)\]", _section()))
    assert cited
    assert cited <= {mutation.id for mutation in MUTATIONS}
