"""What `pulumi up` would do to a live stack: the plan between two runs of the program.

A change of config is a pair of runs. Between them, a resource present in both is updated in
place when its inputs differ, or replaced when a property the provider marks ForceNew differs
(tests/data/provider_force_new.json, taken from terraform-provider-aws), when a resource it
is `replace_with`-bound to is replaced, or when it takes a ForceNew input from a replaced
resource (whose id and ARN are new). Pulumi creates a replacement before it deletes the old
one unless the resource says `delete_before_replace`, so every replacement and addition must
be able to exist beside what is still there: `conflicts` lists those AWS would refuse.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness import ROLLOUT_TYPE, Resource, Run, is_secret

FORCE_NEW = json.loads((Path(__file__).parent / "data" / "provider_force_new.json").read_text())[
    "resources"
]
# The program's boto3 resources, by their own diff (components/backend/rollout.py).
FORCE_NEW |= {
    ROLLOUT_TYPE: {"replaceOn": ["group_name"]},
    "pulumi-python:dynamic/backend:MachineImage": {"replaceOn": ["parameters", "region"]},
}
# Outputs AWS assigns anew when a resource is replaced; inputs holding them change too.
NEW_ON_REPLACE = ("id", "arn", "arnSuffix", "dnsName", "allocationId", "name")
SUBNET = "aws:ec2/subnet:Subnet"
ONE_PER_VPC = ("aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint",)
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
# Inputs that name a resource in AWS: a replacement with the same value collides.
UNIQUE_NAME_INPUTS = ("name", "bucket", "dashboardName")


def _flatten(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and not is_secret(value):  # a secret compares as one value
        for key, item in value.items():
            yield from _flatten(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{path}[{index}]")
        if not value:
            yield path, []
    else:
        yield path, value


def _schema_path(path: str) -> str:
    """subnets[1] -> subnets; healthCheck.path stays: the form ForceNew lists use."""
    return re.sub(r"\[\d+\]", "", path)


def changed_paths(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    old, new = dict(_flatten(before)), dict(_flatten(after))
    return {_schema_path(p) for p in old.keys() | new.keys() if old.get(p) != new.get(p)}


def _forces_new(type_: str, paths: set[str]) -> set[str]:
    replace_on = FORCE_NEW.get(type_, {}).get("replaceOn", [])
    return {
        path
        for path in paths
        if any(path == prop or path.startswith(f"{prop}.") for prop in replace_on)
    }


@dataclass
class Plan:
    before: Run
    after: Run
    added: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    replaced: dict[str, set[str]] = field(default_factory=dict)  # urn -> why
    updated: dict[str, set[str]] = field(default_factory=dict)  # urn -> changed properties

    def names(self, urns: Any) -> list[str]:
        return sorted(urn.rsplit("::", 1)[-1] for urn in urns)

    @property
    def rollouts(self) -> int:
        """Instance refreshes the change starts: a new launch template version, rolled out."""
        templates = [u for u in self.updated if self.after.by_urn(u).type == LAUNCH_TEMPLATE]
        has_rollout = any(r.type == ROLLOUT_TYPE for r in self.after.resources)
        return len(templates) if has_rollout else 0

    def conflicts(self) -> list[str]:
        return [
            *self._subnet_conflicts(),
            *self._unique_name_conflicts(),
            *self._one_per_vpc_conflicts(),
            *self._target_group_conflicts(),
        ]

    def _created(self) -> list[Resource]:
        """What is created while the old resources still exist."""
        return [
            self.after.by_urn(urn)
            for urn in (*self.added, *self.replaced)
            if not self.after.by_urn(urn).delete_before_replace
        ]

    def _subnet_conflicts(self) -> Iterator[str]:
        old = {
            r.name: ipaddress.IPv4Network(r.inputs["cidrBlock"])
            for r in self.before.of_type(SUBNET)
        }
        for subnet in self._created():
            if subnet.type != SUBNET:
                continue
            cidr = ipaddress.IPv4Network(subnet.inputs["cidrBlock"])
            for name, held in old.items():
                if cidr.overlaps(held):
                    yield f"{subnet.name} ({cidr}) is created while {name} holds {held}"

    def _unique_name_conflicts(self) -> Iterator[str]:
        for resource in self._created():
            if resource.urn not in self.replaced:
                continue
            old = self.before.by_urn(resource.urn)
            for key in UNIQUE_NAME_INPUTS:
                if key in resource.inputs and resource.inputs[key] == old.inputs.get(key):
                    yield f"{resource.name} is replaced keeping its {key} {resource.inputs[key]!r}"

    def _one_per_vpc_conflicts(self) -> Iterator[str]:
        for resource in self._created():
            if resource.type in ONE_PER_VPC and self.before.of_type(resource.type):
                yield f"{resource.name} is created while the VPC still has its {resource.type}"

    def _target_group_conflicts(self) -> Iterator[str]:
        """A target group serves one load balancer: one kept across a new ALB cannot be
        forwarded to by the new ALB's rules while the old ALB's rules still use it."""
        new = self.replaced.keys() | self.added
        for rule in self.after.of_type(LISTENER_RULE):
            listener = self._by_arn(self.after, rule.inputs["listenerArn"])
            if listener is None or listener.urn not in new:
                continue  # the rule stays on the same load balancer
            for action in rule.inputs.get("actions", []):
                group = self._by_arn(self.after, action.get("targetGroupArn"))
                if group is not None and group.urn not in new:
                    yield (
                        f"{rule.name} on a new load balancer forwards to {group.name}, which "
                        "the old load balancer's rule still uses (TargetGroupAssociationLimit)"
                    )

    @staticmethod
    def _by_arn(run: Run, arn: Any) -> Resource | None:
        return next((r for r in run.resources if r.custom and r.outputs.get("arn") == arn), None)

    def subnets_that_moved(self) -> list[str]:
        old = {r.urn: r.inputs["cidrBlock"] for r in self.before.of_type(SUBNET)}
        new = {r.urn: r.inputs["cidrBlock"] for r in self.after.of_type(SUBNET)}
        return [urn for urn in old.keys() & new.keys() if old[urn] != new[urn]]


def plan(before: Run, after: Run) -> Plan:
    old = {r.urn: r for r in before.resources if r.custom}
    new = {r.urn: r for r in after.resources if r.custom}
    result = Plan(before, after, added=new.keys() - old.keys(), removed=old.keys() - new.keys())
    changes = {
        urn: changed_paths(old[urn].inputs, new[urn].inputs) - set(new[urn].ignore_changes)
        for urn in old.keys() & new.keys()
    }
    for urn, paths in changes.items():
        if forced := _forces_new(new[urn].type, paths):
            result.replaced[urn] = forced
    # A replacement's new id and ARN reach what holds them; replace_with follows its target.
    while True:
        fresh = _new_values(old, result.replaced)
        grown = False
        for urn in old.keys() & new.keys():
            if urn in result.replaced:
                continue
            bound = set(new[urn].replace_with) & result.replaced.keys()
            holding = {
                _schema_path(path)
                for path, value in _flatten(new[urn].inputs)
                if isinstance(value, str) and any(v and v in value for v in fresh)
            }
            forced = _forces_new(new[urn].type, holding)
            if bound or forced:
                result.replaced[urn] = forced | ({"replace_with"} if bound else set())
                grown = True
            elif holding:
                changes[urn] |= holding
        if not grown:
            break
    for urn, paths in changes.items():
        if urn not in result.replaced and paths:
            result.updated[urn] = paths
    return result


def _new_values(old: dict[str, Resource], replaced: dict[str, set[str]]) -> set[str]:
    return {
        str(old[urn].outputs[key])
        for urn in replaced
        for key in NEW_ON_REPLACE
        if key in old[urn].outputs and key not in old[urn].inputs
    }
