"""The guardrails of the cdn-alb-backend stacks, as Pulumi policies.

Each rule is a pure function from a resource's inputs (camelCase wire names, as the policy
engine passes them) to a list of violation messages; an empty list means compliant. The
`ResourceValidationPolicy` objects below only route each resource type to its rules, so tests
can call either without starting the policy pack (that is `__main__.py`'s job).

Values not known during a preview (an id of a resource not created yet) reach a policy as
sentinels that pulumi-policy's proxy turns into an `UnknownValueError` when read; the policy is
then reported as "can't run during preview" (advisory) and runs again, with known values, during
the update. The rules therefore read only what they need: for subnet lists they count the
entries and never look at the ids.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeGuard

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SECURITY_GROUP_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AUTO_SCALING_GROUP = "aws:autoscaling/group:Group"

MIN_SUBNETS = 2

Props = Mapping[str, Any]
Rule = Callable[[Props], list[str]]


def _is_list(value: object) -> TypeGuard[Sequence[Any]]:
    """A list of inputs (a plain list in tests, a proxy during a real run), not a string."""
    return isinstance(value, Sequence) and not isinstance(value, str)


def _items(value: object) -> list[Any]:
    """The entries of a list input, read one by one (a proxy checks each read); else none."""
    if not _is_list(value):
        return []
    return [value[index] for index in range(len(value))]


def _shown(value: object) -> str:
    return "not set" if value is None else repr(value)


def _mapping(value: object) -> Props:
    return value if isinstance(value, Mapping) else {}


# --- CloudFront ---------------------------------------------------------------------------


def cache_behaviors(props: Props) -> Iterator[tuple[str, Props]]:
    """The default cache behaviour and each ordered one, with a label for messages."""
    default = props.get("defaultCacheBehavior")
    if isinstance(default, Mapping):
        yield "defaultCacheBehavior", default
    for index, behavior in enumerate(_items(props.get("orderedCacheBehaviors"))):
        if isinstance(behavior, Mapping):
            pattern = behavior.get("pathPattern")
            yield f"orderedCacheBehaviors[{index}] (pathPattern {pattern!r})", behavior


def viewer_protocol_violations(props: Props) -> list[str]:
    """Rule of `cloudfront-no-allow-all`: viewers must be sent to (or limited to) HTTPS."""
    return [
        f"{label}.viewerProtocolPolicy is 'allow-all'; use 'redirect-to-https' or 'https-only'"
        for label, behavior in cache_behaviors(props)
        if behavior.get("viewerProtocolPolicy") == "allow-all"
    ]


def cache_policy_violations(props: Props) -> list[str]:
    """Rule of `cloudfront-cache-policy`: cache policies instead of legacy forwardedValues."""
    messages: list[str] = []
    for label, behavior in cache_behaviors(props):
        if not behavior.get("cachePolicyId"):
            messages.append(f"{label} has no cachePolicyId; attach a (managed) cache policy")
        if behavior.get("forwardedValues") is not None:
            messages.append(
                f"{label} sets legacy forwardedValues; use a cache policy and an origin "
                "request policy instead"
            )
    return messages


# --- Security groups ----------------------------------------------------------------------


def is_world(cidr: object) -> bool:
    """True for a CIDR that covers every address: 0.0.0.0/0, ::/0 or a spelling of them."""
    if not isinstance(cidr, str):
        return False
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def _world_cidrs(rule: Props, ipv4_key: str, ipv6_key: str) -> list[str]:
    """The world-open CIDRs among a rule's IPv4 and IPv6 lists."""
    return [
        cidr for key in (ipv4_key, ipv6_key) for cidr in _items(rule.get(key)) if is_world(cidr)
    ]


_INGRESS_HINT = "admit viewers through the CloudFront origin-facing managed prefix list instead"


def ingress_rule_violations(props: Props) -> list[str]:
    """`aws:vpc/securityGroupIngressRule` resources: one CIDR per rule."""
    return [
        f"{key} {props.get(key)!r} opens this ingress rule to the whole internet; {_INGRESS_HINT}"
        for key in ("cidrIpv4", "cidrIpv6")
        if is_world(props.get(key))
    ]


def security_group_violations(props: Props) -> list[str]:
    """`aws:ec2/securityGroup` resources: their inline `ingress` blocks."""
    messages: list[str] = []
    for index, rule in enumerate(_items(props.get("ingress"))):
        world = _world_cidrs(_mapping(rule), "cidrBlocks", "ipv6CidrBlocks")
        if world:
            messages.append(
                f"ingress[{index}] admits {', '.join(world)} (the whole internet); {_INGRESS_HINT}"
            )
    return messages


def security_group_rule_violations(props: Props) -> list[str]:
    """`aws:ec2/securityGroupRule` resources of type ingress (egress may reach anywhere)."""
    if props.get("type") != "ingress":
        return []
    world = _world_cidrs(props, "cidrBlocks", "ipv6CidrBlocks")
    if not world:
        return []
    return [f"ingress rule admits {', '.join(world)} (the whole internet); {_INGRESS_HINT}"]


# --- Launch template ----------------------------------------------------------------------


def imdsv2_violations(props: Props) -> list[str]:
    """Rule of `launch-template-imdsv2`: instance metadata only with session tokens (IMDSv2)."""
    tokens = _mapping(props.get("metadataOptions")).get("httpTokens")
    if tokens == "required":
        return []
    return [f"metadataOptions.httpTokens is {_shown(tokens)}; set it to 'required' (IMDSv2 only)"]


def _is_true(value: object) -> bool:
    # pulumi-aws types `ebs.encrypted` as a string ("true"); accept a real boolean too.
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def encrypted_volume_violations(props: Props) -> list[str]:
    """Rule of `launch-template-encrypted-volumes`: every EBS volume declared and encrypted.

    Requiring at least one EBS mapping makes the root volume explicit; otherwise it would come
    from the image unencrypted unless account-wide EBS encryption happens to be on. Mappings
    without `ebs` (instance store, `noDevice`) hold no EBS volume and are not checked.
    """
    mappings = [_mapping(mapping) for mapping in _items(props.get("blockDeviceMappings"))]
    volumes = [(m.get("deviceName"), m.get("ebs")) for m in mappings if m.get("ebs") is not None]
    if not volumes:
        return ["no blockDeviceMappings with an ebs volume; declare the root volume, encrypted"]
    return [
        f"blockDeviceMappings {device!r}: ebs.encrypted is "
        f"{_shown(_mapping(ebs).get('encrypted'))}; set it to 'true'"
        for device, ebs in volumes
        if not _is_true(_mapping(ebs).get("encrypted"))
    ]


# --- Auto Scaling group -------------------------------------------------------------------


def auto_scaling_group_violations(props: Props) -> list[str]:
    """Rule of `asg-multi-az-elb-health`: subnets in 2+ zones and load-balancer health checks.

    Only the number of subnet ids is read: during a preview the ids of new subnets are unknown.
    """
    messages: list[str] = []
    subnets = props.get("vpcZoneIdentifiers")
    count = len(subnets) if _is_list(subnets) else 0
    if count < MIN_SUBNETS:
        messages.append(
            f"vpcZoneIdentifiers has {count} subnet(s); give at least {MIN_SUBNETS} "
            "(one per availability zone)"
        )
    health = props.get("healthCheckType")
    if health != "ELB":
        messages.append(
            f"healthCheckType is {_shown(health)}; set it to 'ELB' so instances the load "
            "balancer finds unhealthy are replaced"
        )
    return messages


# --- Policies -----------------------------------------------------------------------------


def for_type(resource_type: str, rule: Rule) -> ResourceValidation:
    """A validation that applies `rule` to resources of one type and reports each message."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type != resource_type:
            return
        for message in rule(args.props):
            report_violation(message, None)

    return validate


def _policy(
    name: str, description: str, validate: list[ResourceValidation]
) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


CLOUDFRONT_NO_ALLOW_ALL = _policy(
    "cloudfront-no-allow-all",
    "CloudFront cache behaviours must not accept plain HTTP from viewers (viewerProtocolPolicy).",
    [for_type(DISTRIBUTION, viewer_protocol_violations)],
)

CLOUDFRONT_CACHE_POLICY = _policy(
    "cloudfront-cache-policy",
    "CloudFront cache behaviours must use a cache policy, not legacy forwardedValues.",
    [for_type(DISTRIBUTION, cache_policy_violations)],
)

NO_WORLD_OPEN_INGRESS = _policy(
    "no-world-open-ingress",
    "Security groups must not admit 0.0.0.0/0 or ::/0; the internet enters only via CloudFront.",
    [
        for_type(SECURITY_GROUP_INGRESS_RULE, ingress_rule_violations),
        for_type(SECURITY_GROUP, security_group_violations),
        for_type(SECURITY_GROUP_RULE, security_group_rule_violations),
    ],
)

LAUNCH_TEMPLATE_IMDSV2 = _policy(
    "launch-template-imdsv2",
    "Launch templates must require IMDSv2 (metadataOptions.httpTokens = required).",
    [for_type(LAUNCH_TEMPLATE, imdsv2_violations)],
)

LAUNCH_TEMPLATE_ENCRYPTED_VOLUMES = _policy(
    "launch-template-encrypted-volumes",
    "Launch templates must declare their EBS volumes, each encrypted.",
    [for_type(LAUNCH_TEMPLATE, encrypted_volume_violations)],
)

ASG_MULTI_AZ_ELB_HEALTH = _policy(
    "asg-multi-az-elb-health",
    "Auto Scaling groups must span 2+ subnets and use the load balancer's health checks.",
    [for_type(AUTO_SCALING_GROUP, auto_scaling_group_violations)],
)

POLICIES: tuple[ResourceValidationPolicy, ...] = (
    CLOUDFRONT_NO_ALLOW_ALL,
    CLOUDFRONT_CACHE_POLICY,
    NO_WORLD_OPEN_INGRESS,
    LAUNCH_TEMPLATE_IMDSV2,
    LAUNCH_TEMPLATE_ENCRYPTED_VOLUMES,
    ASG_MULTI_AZ_ELB_HEALTH,
)
