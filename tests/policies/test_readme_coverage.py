"""The README coverage table stays true: each policy listed once with its level, each cited mutation real,
every not-expressible control listed with what compensates for it, and the policy count right."""

from __future__ import annotations

import re
from pathlib import Path

from policies.rules.not_expressible import NOT_EXPRESSIBLE
from tests.policies.test_analyzer import EXPECTED_POLICIES
from tests.policies.test_mutations import MUTATIONS

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(
    r"^\| (?P<control>[^|]+) \| `(?P<policy>[a-z0-9-]+)` \| (?P<level>\w+) \| (?P<proof>[^|]+) \|$"
)
NOT_EXPRESSIBLE_ROW = re.compile(
    r"^\| (?P<cis>\d+\.\d+) \| (?P<control>[^|]+) \| (?P<compensation>[^|]+) \|$"
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


def test_cited_unit_tests_exist() -> None:
    cited = set(re.findall(r"U::(test_[a-z0-9_]+)", _section()))
    defined = {
        name
        for path in README.parent.glob("tests/policies/test_unit_*.py")
        for name in re.findall(r"^def (test_[a-z0-9_]+)", path.read_text(), re.MULTILINE)
    }
    assert cited
    assert cited <= defined, cited - defined


def test_the_policy_count_is_stated() -> None:
    assert f"{len(EXPECTED_POLICIES)} policies" in _section()


def test_not_expressible_table_lists_every_control_with_its_compensation() -> None:
    rows = [match for line in _section().splitlines() if (match := NOT_EXPRESSIBLE_ROW.match(line))]
    assert sorted(f"CIS Docker {row['cis']}" for row in rows) == sorted(NOT_EXPRESSIBLE)
    for row in rows:
        compensation = row["compensation"]
        assert compensation.strip()
        # Every policy or test named as the compensation exists.
        for policy in re.findall(r"`([a-z0-9]+(?:-[a-z0-9]+)+)`", compensation):
            assert policy in EXPECTED_POLICIES, (row["cis"], policy)
    no_new_privileges = next(row for row in rows if row["cis"] == "5.26")
    assert "tests/infra/test_images.py::test_image_has_no_setuid_or_setgid_program" in no_new_privileges[0]
