"""Shared fixtures. The Pulumi mocks and the recording of resources live in tests/harness.py."""

from __future__ import annotations

import pytest

from tests.harness import stack_config

STACKS = ("dev", "prod", "staging")


@pytest.fixture
def dev_config() -> dict[str, str]:
    """Pulumi.yaml defaults merged with Pulumi.dev.yaml, as the CLI would pass them."""
    return stack_config("dev")


@pytest.fixture(params=STACKS)
def stack_name(request: pytest.FixtureRequest) -> str:
    return request.param
