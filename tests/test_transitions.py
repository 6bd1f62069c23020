"""Each change a team makes to a live stack, as the plan `pulumi up` would carry out.

Every case runs the program before and after the change (tests/transitions.py) and checks
that AWS would accept every step: nothing created beside its old self that AWS allows once
(subnet CIDRs, names, one Instance Connect Endpoint per VPC, one load balancer per target
group), and no subnet that stays moves. The cases run on configurations these tests own.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from tests.harness import Run, run_main, stack_config, with_overrides
from tests.transitions import Plan, plan

# A stack of the shipped layout, with its values set here: a team's edits to the stack files
# never change what these cases test.
BASE: dict[str, Any] = {
    "instanceType": "t4g.small",
    "minSize": 2,
    "maxSize": 6,
    "desiredCapacity": 2,
    "azCount": 2,
    "availabilityZones": ["use1-az1", "use1-az2"],
    "natGateways": "none",
    "wafEnabled": False,
    "accessLogs": False,
    "flowLogs": False,
    "deletionProtection": False,
    "instanceConnect": True,
    "originAccess": "publicAlb",
    "vpcEndpoints": [],
    "domainName": "",
    "hostedZoneName": "",
}
APP = {
    "instanceType": "t4g.micro",
    "appImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/orders-api:1.4.2",
    "vpcEndpoints": ["ecr.api", "ecr.dkr"],
}
DIGEST = "sha256:" + "0f" * 32
AUTOMATIC = {"availabilityZones": [], "azCount": 3}
# (before, after): each change from the base and back.
CHANGES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "instanceType same zones": ({}, {"instanceType": "t3.small"}),
    "instanceType same architecture": ({}, {"instanceType": "t4g.micro"}),
    # Automatic zones: t2 is offered in use1-az3 (the mocks' us-east-1c), Nitro types are not.
    "instanceType other zones": (
        {**AUTOMATIC, "instanceType": "t2.small"},
        {**AUTOMATIC, "instanceType": "t3.small"},
    ),
    "azCount up": ({}, {"azCount": 3, "availabilityZones": ["use1-az1", "use1-az2", "use1-az4"]}),
    "azCount down": (
        {"azCount": 3, "availabilityZones": ["use1-az1", "use1-az2", "use1-az4"]},
        {"azCount": 2, "availabilityZones": ["use1-az2", "use1-az4"]},
    ),
    "originAccess to vpcOrigin": ({}, {"originAccess": "vpcOrigin"}),
    "originAccess to publicAlb": ({"originAccess": "vpcOrigin"}, {}),
    "natGateways single": ({}, {"natGateways": "single"}),
    "natGateways perAz": ({"natGateways": "single"}, {"natGateways": "perAz"}),
    "natGateways none": ({"natGateways": "perAz"}, {}),
    "vpcEndpoints": ({}, {"vpcEndpoints": ["ssm", "ssmmessages", "ec2messages"]}),
    "wafEnabled on": ({}, {"wafEnabled": True}),
    "wafEnabled off": ({"wafEnabled": True}, {}),
    "accessLogs on": ({}, {"accessLogs": True, "flowLogs": True}),
    "accessLogs off": ({"accessLogs": True, "flowLogs": True}, {}),
    "domainName on": ({}, {"domainName": "api.example.com"}),
    "domainName off": ({"domainName": "api.example.com"}, {}),
    "appImage tag": (APP, {**APP, "appImage": APP["appImage"].replace("1.4.2", "1.5.0")}),
    "appImage digest": (APP, {**APP, "appImage": APP["appImage"].replace(":1.4.2", f"@{DIGEST}")}),
    "appEnvironment": (
        {**APP, "appEnvironment": ["LOG_LEVEL=info"]},
        {**APP, "appEnvironment": ["LOG_LEVEL=debug"]},
    ),
    "machineImage": (
        {"machineImage": "ami-0123456789abcdef0"},
        {"machineImage": "ami-0a0b0c0d0e0f01234"},  # another root device: still the template
    ),
    "minSize": ({}, {"minSize": 3, "desiredCapacity": 3}),
    "maxSize": ({}, {"maxSize": 9}),
    "instanceConnect off": ({}, {"instanceConnect": False}),
    "originSecretVersion": ({}, {"originSecretVersion": 2}),
}


def fresh_run(overrides: dict[str, Any]) -> Run:
    config = with_overrides(stack_config("dev"), {**BASE, **overrides})
    return run_main(config, stack="transition")


def run_with(overrides: dict[str, Any]) -> Run:
    """A run shared by every case with the same config (read-only)."""
    return _cached(json.dumps(overrides, sort_keys=True))


@functools.cache
def _cached(overrides: str) -> Run:
    return fresh_run(json.loads(overrides))


def plan_of(change: str) -> Plan:
    before, after = CHANGES[change]
    return plan(run_with(before), run_with(after))


@pytest.mark.parametrize("change", CHANGES)
def test_every_step_of_the_change_is_one_aws_accepts(change: str) -> None:
    result = plan_of(change)

    assert result.conflicts() == []
    assert result.subnets_that_moved() == []


@pytest.mark.parametrize(
    "change", ["appImage tag", "appImage digest", "appEnvironment", "machineImage"]
)
def test_a_new_version_touches_only_the_launch_template_and_starts_one_rollout(change: str) -> None:
    result = plan_of(change)

    assert result.replaced == {}
    assert result.names(result.updated) == ["backend-lt"]
    assert result.rollouts == 1


@pytest.mark.parametrize("change", ["instanceType same zones", "instanceType same architecture"])
def test_a_new_instance_type_touches_only_the_launch_template(change: str) -> None:
    result = plan_of(change)

    assert (result.replaced, result.added, result.removed) == ({}, set(), set())
    assert result.names(result.updated) == ["backend-lt"]
    assert result.rollouts == 1


def test_a_type_offered_in_other_zones_adds_and_removes_only_those_zones_subnets() -> None:
    result = plan_of("instanceType other zones")

    assert result.replaced == {}
    # use1-az3 (c) leaves, use1-az4 (d) comes: their subnets only; a and b stay where they are.
    assert "network-public-c" in result.names(result.removed)
    assert "network-public-d" in result.names(result.added)


def test_switching_origin_access_replaces_the_target_group_with_the_alb() -> None:
    result = plan_of("originAccess to vpcOrigin")

    assert {"backend-alb", "backend-tg", "backend-http", "backend-from-cloudfront"} <= set(
        result.names(result.replaced)
    )
    assert "backend-asg" in result.names(result.updated)  # the new group, attached in place


def test_scaling_keys_update_the_group_in_place_and_wait_on_nothing() -> None:
    for change in ("minSize", "maxSize"):
        result = plan_of(change)
        group = next(r for r in result.after.resources if r.name == "backend-asg")

        assert result.replaced == {}
        assert "backend-asg" in result.names(result.updated)
        assert group.inputs["waitForCapacityTimeout"] == "0"
        assert result.rollouts == 0


def test_the_plan_sees_what_the_old_program_got_wrong() -> None:
    """The checks themselves: a target group kept across a new ALB, and an Instance Connect
    Endpoint created beside its old self, are conflicts."""
    # The cached runs serve where only the plan is edited; a run that is edited is a fresh one.
    result = plan(run_with({}), run_with({"originAccess": "vpcOrigin"}))
    for urn in [u for u in result.replaced if u.endswith("::backend-tg")]:
        del result.replaced[urn]
    assert any("TargetGroupAssociationLimit" in c for c in result.conflicts())

    moved = plan(run_with({}), fresh_run({"availabilityZones": ["use1-az2", "use1-az1"]}))
    eice = next(u for u in moved.replaced if u.endswith("::backend-eice"))
    endpoint = moved.after.by_urn(eice)
    object.__setattr__(endpoint, "delete_before_replace", False)
    assert any("backend-eice is created while" in c for c in moved.conflicts())


def test_a_secret_rotation_reaches_cloudfront_only_after_the_alb_accepts_it() -> None:
    result = plan_of("originSecretVersion")
    rule = next(r for r in result.after.resources if r.name == "backend-from-cloudfront")
    distribution = next(r for r in result.after.resources if r.name == "front-door-distribution")

    assert result.replaced == {}
    assert result.names(result.added) == ["backend-origin-secret-v2"]
    assert result.names(result.updated) == ["backend-from-cloudfront", "front-door-distribution"]
    assert rule.urn in distribution.dependencies  # Pulumi updates the rule first
    new_secret = next(r for r in result.after.resources if r.name == "backend-origin-secret-v2")
    assert new_secret.outputs["result"] in json.dumps(distribution.inputs["origins"])
