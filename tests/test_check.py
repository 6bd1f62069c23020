"""scripts/check.py (`make check`): the program's validation of stack files, offline.

The shipped stack files are the team's, so what is asserted of them is only what holds of any
valid one: the program accepts them. The mistakes are written to a scratch directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from instance_types import architectures_by_name
from scripts import check
from tests.harness import SHIPPED_STACKS, TEST_STACKS, stack_names

TYPO_STACK = """\
config:
  aws:region: us-east-1
  cdn-alb-backend:instanceType: t4g.nanoo
  cdn-alb-backend:minSize: 5
  cdn-alb-backend:maxSize: 2
  cdn-alb-backend:instanceTyp: t4g.small
"""


@pytest.mark.parametrize("stack", stack_names(SHIPPED_STACKS))
def test_each_shipped_stack_file_is_accepted_by_the_program(stack: str) -> None:
    assert check.check_stack(stack).problems == [], f"make check STACK={stack}"


def test_a_teams_own_values_pass(tmp_path: Path) -> None:
    """Values the mocks of the other tests do not know (m7g, three zones, an address)."""
    prod = (TEST_STACKS / "Pulumi.prod.yaml").read_text(encoding="utf-8")
    (tmp_path / "Pulumi.prod.yaml").write_text(
        prod.replace("t4g.small", "m7g.large").replace("10.20.0.0/16", "10.30.0.0/16")
        + "  cdn-alb-backend:alarmEmail: oncall@example.com\n"
        + "  cdn-alb-backend:domainName: api.team.example.org\n",
        encoding="utf-8",
    )

    assert check.check_stack("prod", tmp_path).problems == []


def test_every_problem_is_printed_with_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.dev.yaml").write_text(TYPO_STACK, encoding="utf-8")
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  aws:region: us-east-1\n")

    assert check.main([], tmp_path) == 1

    assert capsys.readouterr().out == (
        "Pulumi.dev.yaml: 3 problems\n"
        "  - instanceTyp is not a setting of this program: did you mean instanceType?\n"
        "  - minSize (5) must be <= maxSize (2)\n"
        "  - instanceType 't4g.nanoo' is not an EC2 instance type: did you mean t4g.nano?\n"
        "Pulumi.prod.yaml: ok\n"
    )


@pytest.mark.parametrize(
    ("stack_file", "problem"),
    [
        ("config:\n  aws:region: us-east-1\n  a: [\n", "not valid YAML (line 4, column 1): "),
        ("config:\n  aws:region: eu-wset-1\n", "aws:region 'eu-wset-1' is not an AWS region: "),
        (
            "config:\n  aws:region: us-east-1\n  cdn-alb-backend:instanceType: mac2.metal\n",
            "instanceType 'mac2.metal' runs arm64_mac; use an arm64",
        ),
    ],
)
def test_other_mistakes_are_named(tmp_path: Path, stack_file: str, problem: str) -> None:
    (tmp_path / "Pulumi.qa.yaml").write_text(stack_file, encoding="utf-8")

    [found] = check.check_stack("qa", tmp_path).problems

    assert found.startswith(problem)


def test_a_stack_without_a_file_lists_the_stack_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main(["prdo"]) == 2

    assert capsys.readouterr().out == (
        f"check.py: no stack file Pulumi.prdo.yaml (stack files: {', '.join(stack_names())})\n"
    )


def test_problems_are_printed_without_a_traceback(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Nothing else reaches the terminal (capfd: the process's own output, the SDK's too)."""
    (tmp_path / "Pulumi.dev.yaml").write_text(TYPO_STACK, encoding="utf-8")

    assert check.main([], tmp_path) == 1

    out, err = capfd.readouterr()
    assert err == ""
    assert "Traceback" not in out
    assert len(out.splitlines()) == 4


@pytest.mark.parametrize(
    ("instance_type", "architectures"),
    [
        ("t4g.nano", ["arm64"]),
        ("m7gd.large", ["arm64"]),
        ("c6gn.medium", ["arm64"]),
        ("im4gn.large", ["arm64"]),
        ("a1.large", ["arm64"]),
        ("g5g.xlarge", ["arm64"]),
        ("g4dn.xlarge", ["x86_64"]),
        ("gr6.4xlarge", ["x86_64"]),
        ("t3.micro", ["x86_64"]),
        ("m7i-flex.large", ["x86_64"]),
        ("u-6tb1.metal", ["x86_64"]),
        ("mac1.metal", ["x86_64_mac"]),
        ("mac2-m2.metal", ["arm64_mac"]),
    ],
)
def test_the_architecture_is_judged_from_the_familys_name(
    instance_type: str, architectures: list[str]
) -> None:
    assert architectures_by_name(instance_type) == architectures
