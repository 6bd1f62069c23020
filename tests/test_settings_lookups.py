"""stack_settings.py's two questions that do not need the region: which config keys the CLI
passed (each once, however many ways it passed them) and whether an instance type exists at all
(botocore's EC2 model, offline) before EC2 is asked whether the region offers it."""

from __future__ import annotations

import json

import pytest

from stack_settings import SettingsError, load_settings
from tests.harness import INSTANCE_TYPE_TOKEN, run_pulumi_failing, with_overrides


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


@pytest.mark.parametrize(
    ("instance_type", "nearest"),
    [("t4g.nanoo", "t4g.nano"), ("m7g.larg", "m7g.large"), ("t3.mikro", "t3.micro")],
)
def test_a_type_ec2_does_not_have_is_named_with_the_nearest_real_one(
    dev_config: dict[str, str], instance_type: str, nearest: str
) -> None:
    found, asked = problems(with_overrides(dev_config, {"instanceType": instance_type}))

    assert found == [
        f"instanceType {instance_type!r} is not an EC2 instance type: did you mean {nearest}?"
    ]
    assert INSTANCE_TYPE_TOKEN not in asked  # refused before asking the region


def test_a_real_type_the_region_lacks_is_not_offered_there(dev_config: dict[str, str]) -> None:
    """The mocks' EC2 knows only the families the tests use: m5 exists, but not "here"."""
    found, asked = problems(with_overrides(dev_config, {"instanceType": "m5.large"}))

    assert len(found) == 1
    assert found[0].startswith("instanceType 'm5.large' is not offered in us-east-1 (EC2 says: ")
    assert INSTANCE_TYPE_TOKEN in asked
