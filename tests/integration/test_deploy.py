"""The real thing: a throw-away copy of a stack deployed to AWS, smoke-checked, destroyed.

Runs only with PULUMI_INTEGRATION=1, the pulumi CLI on PATH and AWS credentials (`make
integration STACK=dev` sets the first and checks the others; the credentials, as botocore's chain
finds them, are looked for only once the first is set); otherwise it is skipped, naming what is
missing. Environment: INTEGRATION_STACK (stack file, default dev), INTEGRATION_REGION
or AWS_REGION (default: the stack file's aws:region), INTEGRATION_RECORD_FILE (optional).
"""

from __future__ import annotations

import os

import pytest

from tests.integration.ephemeral import deploy_and_prove, missing_prerequisites, plan_from_env


def test_a_copy_of_the_stack_deploys_passes_the_smoke_check_and_is_destroyed() -> None:
    missing = missing_prerequisites(os.environ)
    if missing:
        pytest.skip("integration test not run: " + "; ".join(missing))
    # Imported only for a real run: a skipped one need not load the Pulumi SDK.
    from tests.integration.automation import create_stack  # noqa: PLC0415

    result = deploy_and_prove(plan_from_env(os.environ), create_stack)

    assert result.smoke_exit_status == 0
    assert result.resource_count
    assert [phase.outcome for phase in result.phases] == ["ok"] * len(result.phases)
