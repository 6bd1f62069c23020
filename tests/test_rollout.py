"""The rollout's and the machine image's AWS calls, exactly as boto3 sends them (Stubber)."""

from __future__ import annotations

import base64
import pickletools
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from pulumi.dynamic.dynamic import serialize_provider

from components.backend.rollout import (
    POLL_SECONDS,
    MachineImageProvider,
    RolloutError,
    RolloutPreferences,
    RolloutProvider,
    resolve_image,
    roll_out,
)
from tests.harness import PROJECT_DIR

GROUP = "backend-asg-0a1b2c3"
TEMPLATE = "lt-0123456789abcdef0"
REFRESH = "0d6a9a11-ffd8-4d50-9d5d-30ed1f3f4d5e"
PREFERENCES = RolloutPreferences(
    instance_warmup_seconds=300,
    alarm_names=("cdn-alb-backend-prod-target-5xx", "cdn-alb-backend-prod-unhealthy-hosts"),
    checkpoint_percentages=(25, 100),
    checkpoint_delay_seconds=600,
)
PROPS: dict[str, Any] = {
    "group_name": GROUP,
    "launch_template_id": TEMPLATE,
    "launch_template_version": 7,
    "preferences": PREFERENCES.as_request(),
    "region": "us-east-1",
    "profile": None,
    "timeout_seconds": 600,
}
START_REQUEST = {
    "AutoScalingGroupName": GROUP,
    "Strategy": "Rolling",
    "DesiredConfiguration": {"LaunchTemplate": {"LaunchTemplateId": TEMPLATE, "Version": "7"}},
    "Preferences": {
        "MinHealthyPercentage": 100,
        "MaxHealthyPercentage": 200,
        "InstanceWarmup": 300,
        "SkipMatching": True,
        "AutoRollback": True,
        "AlarmSpecification": {
            "Alarms": ["cdn-alb-backend-prod-target-5xx", "cdn-alb-backend-prod-unhealthy-hosts"]
        },
        "CheckpointPercentages": [25, 100],
        "CheckpointDelay": 600,
    },
}


class FakeClock:
    """time.monotonic and time.sleep for a rollout that must not really wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def autoscaling() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "autoscaling", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def group_on(stubber: Stubber, version: str) -> None:
    stubber.add_response(
        "describe_auto_scaling_groups",
        {
            "AutoScalingGroups": [
                {
                    "AutoScalingGroupName": GROUP,
                    "LaunchTemplate": {"LaunchTemplateId": TEMPLATE, "Version": version},
                    "MinSize": 1,
                    "MaxSize": 2,
                    "DesiredCapacity": 1,
                    "DefaultCooldown": 300,
                    "AvailabilityZones": ["us-east-1a"],
                    "HealthCheckType": "ELB",
                    "CreatedTime": "2026-12-01T00:00:00Z",
                }
            ]
        },
        {"AutoScalingGroupNames": [GROUP]},
    )


def refresh_is(stubber: Stubber, status: str, reason: str = "", refresh_id: str = REFRESH) -> None:
    refresh: dict[str, Any] = {
        "InstanceRefreshId": refresh_id,
        "AutoScalingGroupName": GROUP,
        "Status": status,
        "PercentageComplete": 40,
    }
    if reason:
        refresh["StatusReason"] = reason
    stubber.add_response(
        "describe_instance_refreshes",
        {"InstanceRefreshes": [refresh]},
        {"AutoScalingGroupName": GROUP, "MaxRecords": 1, "InstanceRefreshIds": [refresh_id]},
    )


def refresh_started(stubber: Stubber) -> None:
    """The group runs version 6, and AWS accepts the refresh to version 7."""
    group_on(stubber, "6")
    stubber.add_response("start_instance_refresh", {"InstanceRefreshId": REFRESH}, START_REQUEST)


def test_a_new_version_starts_one_refresh_with_its_desired_configuration_and_waits(
    autoscaling: tuple[Any, Stubber],
) -> None:
    client, stubber = autoscaling
    clock = FakeClock()
    refresh_started(stubber)
    for status in ("Pending", "InProgress", "Baking", "Successful"):
        refresh_is(stubber, status)

    assert roll_out(client, PROPS, sleep=clock.sleep, clock=clock) == REFRESH
    assert clock.sleeps == [POLL_SECONDS] * 3


def test_a_group_already_on_the_version_starts_nothing(autoscaling: tuple[Any, Stubber]) -> None:
    """A new stack's group starts on the template's version; a change of preferences alone
    rolls nothing out."""
    client, stubber = autoscaling
    group_on(stubber, "7")

    assert roll_out(client, PROPS) is None


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        (
            "RollbackSuccessful",
            "The alarm cdn-alb-backend-prod-target-5xx is in ALARM state",
            f"the rollout of launch template version 7 to {GROUP} was rolled back ({REFRESH}: "
            "The alarm cdn-alb-backend-prod-target-5xx is in ALARM state); the group runs "
            "version 6 again. Fix forward with a new version, or revert the change and "
            "`pulumi up`",
        ),
        (
            "Failed",
            "Instances failed to pass health checks",
            f"the rollout of launch template version 7 to {GROUP} ended Failed ({REFRESH}: "
            "Instances failed to pass health checks)",
        ),
        ("Cancelled", "", f"ended Cancelled ({REFRESH}: no reason given)"),
        ("RollbackFailed", "Rollback timed out", f"ended RollbackFailed ({REFRESH}: Rollback"),
    ],
)
def test_each_end_but_success_fails_the_deploy_naming_status_and_reason(
    autoscaling: tuple[Any, Stubber], status: str, reason: str, message: str
) -> None:
    client, stubber = autoscaling
    clock = FakeClock()
    refresh_started(stubber)
    refresh_is(stubber, "InProgress")
    refresh_is(stubber, status, reason)

    with pytest.raises(RolloutError) as raised:
        roll_out(client, PROPS, sleep=clock.sleep, clock=clock)

    assert message in str(raised.value)


def test_a_refresh_past_the_timeout_fails_the_deploy_and_is_left_running(
    autoscaling: tuple[Any, Stubber],
) -> None:
    client, stubber = autoscaling
    clock = FakeClock()
    refresh_started(stubber)
    for _ in range(600 // POLL_SECONDS + 1):
        refresh_is(stubber, "InProgress")

    with pytest.raises(RolloutError) as raised:
        roll_out(client, PROPS, sleep=clock.sleep, clock=clock)

    assert f"instance refresh {REFRESH} of {GROUP} is still InProgress (40% done)" in str(
        raised.value
    )
    assert clock.now == 600  # and no CancelInstanceRefresh: the refresh goes on in AWS


def test_a_refresh_left_running_is_waited_out_before_the_new_one_starts(
    autoscaling: tuple[Any, Stubber],
) -> None:
    client, stubber = autoscaling
    clock = FakeClock()
    group_on(stubber, "6")
    stubber.add_client_error(
        "start_instance_refresh",
        service_error_code="InstanceRefreshInProgress",
        expected_params=START_REQUEST,
    )
    stubber.add_response(
        "describe_instance_refreshes",
        {"InstanceRefreshes": [{"InstanceRefreshId": "old", "Status": "Successful"}]},
        {"AutoScalingGroupName": GROUP, "MaxRecords": 1},
    )
    stubber.add_response("start_instance_refresh", {"InstanceRefreshId": REFRESH}, START_REQUEST)
    refresh_is(stubber, "Successful")

    assert roll_out(client, PROPS, sleep=clock.sleep, clock=clock) == REFRESH


def test_without_alarms_or_checkpoints_the_preferences_leave_them_out() -> None:
    assert RolloutPreferences(instance_warmup_seconds=300).as_request() == {
        "MinHealthyPercentage": 100,
        "MaxHealthyPercentage": 200,
        "InstanceWarmup": 300,
        "SkipMatching": True,
        "AutoRollback": True,
    }


@pytest.mark.parametrize(
    ("change", "changes", "replaces"),
    [
        ({"launch_template_version": 8}, True, []),
        ({"preferences": {"InstanceWarmup": 60}}, True, []),
        ({"group_name": "backend-asg-new"}, True, ["group_name"]),
        ({"__provider": "another pickle"}, False, []),  # the provider's own code: no rollout
        ({}, False, []),
    ],
)
def test_rollout_diff(change: dict[str, Any], changes: bool, replaces: list[str]) -> None:
    result = RolloutProvider().diff(GROUP, PROPS, {**PROPS, **change})

    assert (result.changes, result.replaces) == (changes, replaces)


# ------------------------------------------------------------------------ machine image
AMI = "ami-0a1b2c3d4e5f60718"
PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"


def image_clients(architecture: str = "arm64") -> tuple[Any, Any, Stubber, Stubber]:
    keys = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    ssm, ec2 = boto3.client("ssm", **keys), boto3.client("ec2", **keys)
    ssm_stub, ec2_stub = Stubber(ssm), Stubber(ec2)
    ssm_stub.add_response(
        "get_parameter", {"Parameter": {"Name": PARAMETER, "Value": AMI}}, {"Name": PARAMETER}
    )
    ec2_stub.add_response(
        "describe_images",
        {"Images": [{"ImageId": AMI, "RootDeviceName": "/dev/sda1", "Architecture": architecture}]},
        {"ImageIds": [AMI]},
    )
    return ssm, ec2, ssm_stub, ec2_stub


def test_an_image_parameter_resolves_to_its_ami_and_root_device() -> None:
    ssm, ec2, ssm_stub, ec2_stub = image_clients()
    with ssm_stub, ec2_stub:
        image = resolve_image(ssm, ec2, PARAMETER, "arm64")

    assert image == {"image_id": AMI, "root_device_name": "/dev/sda1"}


def test_an_image_of_another_architecture_is_refused() -> None:
    ssm, ec2, ssm_stub, ec2_stub = image_clients(architecture="x86_64")
    with ssm_stub, ec2_stub, pytest.raises(RolloutError, match="an x86_64 image, but instanceType"):
        resolve_image(ssm, ec2, PARAMETER, "arm64")


def test_a_parameter_the_deploy_role_cannot_read_names_the_key() -> None:
    keys = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    ssm = boto3.client("ssm", **keys)
    with Stubber(ssm) as stub:
        stub.add_client_error("get_parameter", service_error_code="AccessDeniedException")
        with pytest.raises(RolloutError, match=r"\(AccessDeniedException\): check machineImage"):
            resolve_image(ssm, boto3.client("ec2", **keys), PARAMETER, "arm64")


def test_a_newer_ami_waits_for_a_deliberate_replace() -> None:
    """Amazon Linux publishes a new AMI every few weeks: the pinned one stays until the
    resource is replaced, so no unrelated deploy rolls a new image out."""
    props = {"parameters": {"arm64": PARAMETER}, "region": "us-east-1", "profile": None}
    resolved = {**props, "images": {"arm64": {"image_id": AMI, "root_device_name": "/dev/xvda"}}}
    provider = MachineImageProvider()

    assert provider.diff("id", resolved, {**props, "images": None}).changes is False
    other = {**props, "parameters": {"arm64": "/orders/ami"}}
    assert provider.diff("id", resolved, other).replaces == ["parameters"]


def test_the_providers_unpickle_where_pulumi_runs_them() -> None:
    """Pulumi pickles a dynamic provider by reference to its module and unpickles it in a
    provider process started in the project directory: it must import from there. One fresh
    interpreter loads both, one pickle a line."""
    providers = [RolloutProvider(), MachineImageProvider()]
    serialized = [serialize_provider(provider) for provider in providers]
    for provider, pickled in zip(providers, serialized, strict=True):
        # By reference, not by value: the pickle names the class and its module, nothing else
        # (by value, it would hold the class's methods and dill's own loaders).
        opcodes = pickletools.genops(base64.b64decode(pickled))
        strings = [argument for _, argument, _ in opcodes if isinstance(argument, str)]
        assert strings == ["components.backend.rollout", type(provider).__name__]
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import base64, sys, dill\n"
            "for line in sys.stdin:\n"
            "    print(type(dill.loads(base64.b64decode(line))).__name__)",
        ],
        input="".join(f"{pickled}\n" for pickled in serialized),
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        check=True,
        timeout=60,
    )
    assert loaded.stdout.split() == [type(provider).__name__ for provider in providers]
