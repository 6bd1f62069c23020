"""The resource graph of each test stack file (tests/stacks/) equals its reviewed snapshot.

A difference is an infrastructure change: if it is intended, refresh the snapshots with
`make snapshots` and commit them, so the pull request's diff shows it to the reviewer.
"""

from __future__ import annotations

import difflib
import json

import pytest

from scripts import snapshots
from tests.conftest import STACKS
from tests.harness import run_stack

DIFF_LINES_SHOWN = 80


def changed_resources(expected: str, actual: str) -> list[str]:
    """One line per resource added, removed or changed: what the diff below is about."""
    before = {node["resource"]: node for node in json.loads(expected or "[]")}
    after = {node["resource"]: node for node in json.loads(actual)}
    return [
        f"{sign} {label}"
        for label in sorted(before.keys() | after.keys())
        for sign in ["+" if label not in before else "-" if label not in after else "~"]
        if before.get(label) != after.get(label)
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_resource_graph_matches_its_snapshot(stack: str) -> None:
    path = snapshots.snapshot_path(stack)
    expected = path.read_text() if path.exists() else ""
    actual = snapshots.render(stack)

    if actual != expected:
        diff = list(
            difflib.unified_diff(
                expected.splitlines(),
                actual.splitlines(),
                f"tests/snapshots/{stack}.json (committed)",
                f"{stack} (the program now)",
                lineterm="",
            )
        )
        shown = "\n".join([*changed_resources(expected, actual), *diff[:DIFF_LINES_SHOWN]])
        more = (
            f"\n... {len(diff) - DIFF_LINES_SHOWN} more lines"
            if len(diff) > DIFF_LINES_SHOWN
            else ""
        )
        pytest.fail(
            f"the {stack} stack's resources changed; if intended, run `make snapshots` and "
            f"commit tests/snapshots/:\n{shown}{more}",
            pytrace=False,
        )


def test_snapshots_mask_secrets_and_show_user_data_as_text() -> None:
    text = snapshots.render("dev")
    secret = run_stack("dev").one("random:index/randomPassword:RandomPassword").outputs["result"]

    assert secret not in text
    assert text.count(snapshots.MASK) >= 2  # sent by CloudFront, required by the ALB rule
    assert '"X-Origin-Verify"' in text  # the rest of the origin stays reviewable
    assert "#cloud-config" in text


def test_the_failure_names_each_changed_resource() -> None:
    committed = snapshots.snapshot_path("dev").read_text()
    changed = committed.replace('"instanceType": "t4g.nano"', '"instanceType": "t4g.micro"')

    assert changed_resources(committed, changed) == [
        "~ aws:ec2/launchTemplate:LaunchTemplate::backend-lt"
    ]
