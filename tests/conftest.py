"""Shared fixtures. The Pulumi mocks and the recording of resources live in tests/harness.py."""

from __future__ import annotations

import pytest

from tests.harness import stack_config

STACKS = ("dev", "prod", "staging")
# Each test stack file (tests/stacks/) as it is, and with the modes it does not ship with: the
# whole-program checks that must hold everywhere run on each of these.
MODES: list[tuple[str, dict[str, str]]] = [
    *((stack, {}) for stack in STACKS),
    *((stack, {"originAccess": "vpcOrigin", "natGateways": "perAz"}) for stack in STACKS),
    (
        "dev",
        {
            "natGateways": "single",
            "domainName": "api.example.com",
            "wafEnabled": "true",
            "machineImage": "ami-0123456789abcdef0",
        },
    ),
    ("staging", {"accessLogs": "true", "flowLogs": "true", "wafEnabled": "true"}),
]
MODE_IDS = [
    f"{stack}-{'-'.join(f'{k}={v}' for k, v in overrides.items()) or 'as-is'}"
    for stack, overrides in MODES
]


@pytest.fixture
def dev_config() -> dict[str, str]:
    """Pulumi.yaml defaults merged with tests/stacks/Pulumi.dev.yaml, as the CLI passes them."""
    return stack_config("dev")


@pytest.fixture(params=STACKS)
def stack_name(request: pytest.FixtureRequest) -> str:
    return request.param
