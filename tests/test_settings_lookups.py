"""stack_settings.py's questions that do not need the region: which config keys the CLI passed
(each once, however many ways it passed them)."""

from __future__ import annotations

import json

import pytest

from stack_settings import SettingsError, load_settings
from tests.harness import run_pulumi_failing, with_overrides


def problems(config: dict[str, str]) -> tuple[list[str], list[str]]:
    """The problems load_settings finds, and the invoke tokens it asked on the way."""
    error, run = run_pulumi_failing(load_settings, config)
    assert isinstance(error, SettingsError)
    return error.problems, [invoke.token for invoke in run.invokes]


def test_an_unknown_key_passed_both_ways_is_reported_once(
    dev_config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python language host hands the config to the SDK and also sets PULUMI_CONFIG."""
    config = with_overrides(dev_config, {"instanceTyp": "t4g.small"})
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))

    found, _ = problems(config)

    assert found == ["instanceTyp is not a setting of this program: did you mean instanceType?"]
