"""The resource graph of each shipped stack file equals its reviewed snapshot.

A difference is an infrastructure change: if it is intended, refresh the snapshots with
`make snapshots` and commit them, so the pull request's diff shows it to the reviewer.
"""

from __future__ import annotations

import difflib

import pytest

from scripts import snapshots
from tests.conftest import STACKS
from tests.harness import run_stack

DIFF_LINES_SHOWN = 80


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
        shown = "\n".join(diff[:DIFF_LINES_SHOWN])
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
