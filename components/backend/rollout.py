"""Rollouts that roll back and that `pulumi up` waits for, and the AMI they roll out.

The AWS provider cannot do either. On a launch template change it first updates the group to
the new version and only then starts the instance refresh, so the refresh's "previous
configuration", the one AutoRollback returns to, is already the new one; and it returns at once,
while old instances still serve (terraform-provider-aws #34189). AWS also refuses a rollback
when the template names its image through an SSM parameter (`resolve:ssm:`) or the group runs
`$Latest`/`$Default`.

So the group keeps the launch template version it was created with (the backend ignores its
changes), and `Rollout` below starts each refresh itself, with the new numbered version as the
desired configuration, then waits for the outcome and fails `pulumi up` unless it is
Successful. `MachineImage` resolves an SSM image parameter to a concrete AMI id once and keeps
it, so a new AMI is a deliberate rollout (`pulumi up --replace` of that resource) rather than a
side effect of an unrelated deploy.

Both are Pulumi dynamic providers on boto3: they run inside `pulumi up` with boto3's default
credentials (the environment variables or profile the AWS provider reads too; `aws:profile` is
passed on), and their calls are unit-tested with botocore's Stubber (tests/test_rollout.py).
Pulumi pickles the providers by reference, so they must stay importable from the project root.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from boto3.session import Session
from botocore.exceptions import ClientError
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ResourceProvider,
    UpdateResult,
)

# The states of an instance refresh that end it (DescribeInstanceRefreshes' Status).
REFRESH_ENDED = frozenset(
    {"Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed"}
)
POLL_SECONDS = 15
# StartInstanceRefresh's error while another refresh (one a killed `pulumi up` left) runs.
REFRESH_IN_PROGRESS = "InstanceRefreshInProgress"

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class RolloutError(Exception):
    """A rollout that did not end Successful; the message says what AWS reported and what next."""


@dataclass(frozen=True)
class RolloutPreferences:
    """How a new version replaces the instances (StartInstanceRefresh's Preferences)."""

    instance_warmup_seconds: int
    alarm_names: Sequence[str] = ()  # an alarm firing during the refresh rolls it back
    checkpoint_percentages: Sequence[int] = ()  # where it pauses for the alarms to judge
    checkpoint_delay_seconds: int = 0

    def as_request(self) -> dict[str, Any]:
        """Capacity never drops (launch before terminate), instances already on the version
        stay, and a failure or a firing alarm rolls back to the previous version."""
        preferences: dict[str, Any] = {
            "MinHealthyPercentage": 100,
            "MaxHealthyPercentage": 200,
            "InstanceWarmup": self.instance_warmup_seconds,
            "SkipMatching": True,
            "AutoRollback": True,
        }
        if self.alarm_names:
            preferences["AlarmSpecification"] = {"Alarms": list(self.alarm_names)}
        if self.checkpoint_percentages:
            preferences["CheckpointPercentages"] = list(self.checkpoint_percentages)
            preferences["CheckpointDelay"] = self.checkpoint_delay_seconds
        return preferences


def _session(props: Mapping[str, Any]) -> Session:
    return Session(region_name=props["region"], profile_name=props.get("profile") or None)


# ----------------------------------------------------------------------------- the rollout
def refresh_request(props: Mapping[str, Any]) -> dict[str, Any]:
    """The StartInstanceRefresh request that rolls the group out to the props' version."""
    return {
        "AutoScalingGroupName": props["group_name"],
        "Strategy": "Rolling",
        "DesiredConfiguration": {
            "LaunchTemplate": {
                "LaunchTemplateId": props["launch_template_id"],
                "Version": str(props["launch_template_version"]),
            }
        },
        "Preferences": dict(props["preferences"]),
    }


def _group_template(client: Any, group_name: str) -> dict[str, str]:
    """The launch template {LaunchTemplateId, Version} the group launches from now."""
    groups = client.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])
    if not groups["AutoScalingGroups"]:
        raise RolloutError(f"Auto Scaling group {group_name} does not exist")
    template = groups["AutoScalingGroups"][0].get("LaunchTemplate") or {}
    return {key: template.get(key, "") for key in ("LaunchTemplateId", "Version")}


def _refresh(client: Any, group_name: str, refresh_id: str | None) -> dict[str, Any] | None:
    """One refresh by id, or the group's newest one when refresh_id is None."""
    request: dict[str, Any] = {"AutoScalingGroupName": group_name, "MaxRecords": 1}
    if refresh_id is not None:
        request["InstanceRefreshIds"] = [refresh_id]
    refreshes = client.describe_instance_refreshes(**request)["InstanceRefreshes"]
    return refreshes[0] if refreshes else None


def wait_for_refresh(
    client: Any,
    group_name: str,
    refresh_id: str | None,
    *,
    deadline: float,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> dict[str, Any]:
    """Polls until the refresh ends; raises RolloutError when the deadline passes first."""
    while True:
        refresh = _refresh(client, group_name, refresh_id)
        if refresh is None or refresh["Status"] in REFRESH_ENDED:
            return refresh or {"Status": "Successful"}
        if clock() >= deadline:
            raise RolloutError(
                f"instance refresh {refresh['InstanceRefreshId']} of {group_name} is still "
                f"{refresh['Status']} ({refresh.get('PercentageComplete', 0)}% done) when "
                "`pulumi up` stops waiting; it goes on in AWS. Follow it with `aws autoscaling "
                f"describe-instance-refreshes --auto-scaling-group-name {group_name}`, and run "
                "`pulumi up` again once it has ended"
            )
        sleep(POLL_SECONDS)


def _start(
    client: Any, request: dict[str, Any], deadline: float, sleep: Sleep, clock: Clock
) -> str:
    """Starts the refresh; one already running (a killed `pulumi up`'s) is waited out first."""
    try:
        return client.start_instance_refresh(**request)["InstanceRefreshId"]
    except ClientError as error:
        if error.response["Error"]["Code"] != REFRESH_IN_PROGRESS:
            raise
    group = request["AutoScalingGroupName"]
    wait_for_refresh(client, group, None, deadline=deadline, sleep=sleep, clock=clock)
    return client.start_instance_refresh(**request)["InstanceRefreshId"]


def _outcome(refresh: dict[str, Any], group_name: str, version: str, previous: str) -> str:
    status = refresh["Status"]
    reason = refresh.get("StatusReason") or "no reason given"
    refresh_id = refresh.get("InstanceRefreshId", "")
    if status == "RollbackSuccessful":
        return (
            f"the rollout of launch template version {version} to {group_name} was rolled "
            f"back ({refresh_id}: {reason}); the group runs version {previous} again. Fix "
            "forward with a new version, or revert the change and `pulumi up`"
        )
    return (
        f"the rollout of launch template version {version} to {group_name} ended {status} "
        f"({refresh_id}: {reason}). See `aws autoscaling describe-instance-refreshes "
        f"--auto-scaling-group-name {group_name}`, then `pulumi up` again"
    )


def roll_out(
    client: Any,
    props: Mapping[str, Any],
    *,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> str | None:
    """Rolls the group out to the props' launch template version and waits for the outcome.

    Returns the refresh's id, or None when the group already launches from that version
    (a new stack, or a change of preferences only); raises RolloutError unless Successful.
    """
    request = refresh_request(props)
    group_name = request["AutoScalingGroupName"]
    desired = request["DesiredConfiguration"]["LaunchTemplate"]
    current = _group_template(client, group_name)
    if current == desired:
        return None
    deadline = clock() + float(props["timeout_seconds"])
    refresh_id = _start(client, request, deadline, sleep, clock)
    refresh = wait_for_refresh(
        client, group_name, refresh_id, deadline=deadline, sleep=sleep, clock=clock
    )
    if refresh["Status"] != "Successful":
        raise RolloutError(_outcome(refresh, group_name, desired["Version"], current["Version"]))
    return refresh_id


# Inputs whose change updates the resource; the update starts a refresh only when the group's
# launch template differs from the one named (roll_out), so new preferences alone start none.
ROLLOUT_INPUTS = (
    "launch_template_id", "launch_template_version", "preferences", "timeout_seconds", "region",
    "profile",
)  # fmt: skip


def _changed(olds: Mapping[str, Any], news: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    return [key for key in keys if olds.get(key) != news.get(key)]


class RolloutProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        refresh_id = roll_out(_session(props).client("autoscaling"), props)
        return CreateResult(id_=props["group_name"], outs={**props, "refresh_id": refresh_id})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = _changed(olds, news, ROLLOUT_INPUTS)
        # A new group (replaced) is a new rollout resource; the rest update in place.
        replaces = _changed(olds, news, ("group_name",))
        return DiffResult(changes=bool(changed or replaces), replaces=replaces)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        refresh_id = roll_out(_session(news).client("autoscaling"), news)
        return UpdateResult(outs={**news, "refresh_id": refresh_id})


@dataclass(frozen=True)
class RolloutArgs:
    group_name: pulumi.Input[str]
    launch_template_id: pulumi.Input[str]
    launch_template_version: pulumi.Input[int]
    preferences: RolloutPreferences
    region: str
    timeout_seconds: int
    profile: str | None = None  # aws:profile, when the stack names one


class Rollout(pulumi.dynamic.Resource, module="backend", name="Rollout"):
    """Each new launch template version, rolled out to the group by an instance refresh."""

    refresh_id: pulumi.Output[str | None]

    def __init__(
        self, name: str, args: RolloutArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            RolloutProvider(),
            name,
            {
                "group_name": args.group_name,
                "launch_template_id": args.launch_template_id,
                "launch_template_version": args.launch_template_version,
                "preferences": args.preferences.as_request(),
                "region": args.region,
                "profile": args.profile,
                "timeout_seconds": args.timeout_seconds,
                "refresh_id": None,
            },
            opts,
        )


# ------------------------------------------------------------------------ the machine image
def resolve_image(ssm: Any, ec2: Any, parameter: str, architecture: str) -> dict[str, str]:
    """The AMI an SSM image parameter names now, with its root device; it must be built for
    `architecture`."""
    try:
        image_id = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as error:
        raise RolloutError(
            f"the image parameter {parameter} cannot be read "
            f"({error.response['Error']['Code']}): check machineImage and the deploy role's "
            "ssm:GetParameter permission"
        ) from error
    images = ec2.describe_images(ImageIds=[image_id])["Images"]
    if not images:
        raise RolloutError(f"the image parameter {parameter} names {image_id}, which is gone")
    image = images[0]
    if image["Architecture"] != architecture:
        raise RolloutError(
            f"the image parameter {parameter} names {image_id}, an {image['Architecture']} "
            f"image, but instanceType runs {architecture}: name an {architecture} image"
        )
    return {"image_id": image_id, "root_device_name": image["RootDeviceName"]}


class MachineImageProvider(ResourceProvider):
    def _resolve(self, props: Mapping[str, Any]) -> dict[str, Any]:
        session = _session(props)
        ssm, ec2 = session.client("ssm"), session.client("ec2")
        images = {
            architecture: resolve_image(ssm, ec2, parameter, architecture)
            for architecture, parameter in sorted(props["parameters"].items())
        }
        return {**props, "images": images}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(
            id_=",".join(sorted(props["parameters"].values())), outs=self._resolve(props)
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Only other parameters (machineImage) resolve again: a parameter's newer value waits
        # for a deliberate `pulumi up --replace` of this resource.
        replaces = _changed(olds, news, ("parameters", "region"))
        return DiffResult(changes=bool(replaces), replaces=replaces)


@dataclass(frozen=True)
class MachineImageArgs:
    # An SSM parameter whose value is an AMI id, per CPU architecture: Amazon Linux names one
    # for each, so a change of instance type between them leaves this resource as it is.
    parameters: Mapping[str, str]
    region: str
    profile: str | None = None


class MachineImage(pulumi.dynamic.Resource, module="backend", name="MachineImage"):
    """SSM image parameters' AMIs, resolved once at deploy time and kept."""

    images: pulumi.Output[dict[str, dict[str, str]]]  # architecture -> image_id, root device

    def __init__(
        self, name: str, args: MachineImageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            MachineImageProvider(),
            name,
            {
                "parameters": dict(args.parameters),
                "region": args.region,
                "profile": args.profile,
                "images": None,
            },
            opts,
        )
