"""The guardrail policies, run the way the policy engine runs them, on compliant and bad inputs.

Each resource is given as the engine passes it: its inputs under camelCase wire names. `run`
builds a `ResourceValidationArgs` and records what the policy reports; `proxied` wraps inputs
in pulumi-policy's unknown-checking proxy, as during a preview.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    unknown_checking_proxy,
)

from policy import policies

POLICY_DIR = Path(__file__).resolve().parents[1]
MANAGED_CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CLOUDFRONT_PREFIX_LIST = "pl-3b927c52"
HINT = "admit viewers through the CloudFront origin-facing managed prefix list instead"

Props = dict[str, Any]


def run(policy: ResourceValidationPolicy, resource_type: str, props: Any) -> list[str]:
    """Validate one resource with `policy`; return the violation messages it reported."""
    messages: list[str] = []

    def report_violation(message: str, urn: str | None = None) -> None:
        assert urn is None  # violations belong to the resource being validated
        messages.append(message)

    options = PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )
    args = ResourceValidationArgs(
        resource_type=resource_type,
        props=props,
        urn=f"urn:pulumi:dev::cdn-alb-backend::{resource_type}::example",
        name="example",
        opts=options,
        provider=None,
    )
    assert policy.validate(args, report_violation) is None  # synchronous
    return messages


def proxied(props: Props) -> Any:
    return unknown_checking_proxy(copy.deepcopy(props))


# --- Compliant resources, as the program should declare them -------------------------------


def distribution() -> Props:
    return {
        "enabled": True,
        "defaultCacheBehavior": {
            "targetOriginId": "alb",
            "viewerProtocolPolicy": "redirect-to-https",
            "cachePolicyId": MANAGED_CACHING_OPTIMIZED,
            "allowedMethods": ["GET", "HEAD"],
            "cachedMethods": ["GET", "HEAD"],
        },
        "orderedCacheBehaviors": [
            {
                "pathPattern": "/api/*",
                "targetOriginId": "alb",
                "viewerProtocolPolicy": "https-only",
                "cachePolicyId": MANAGED_CACHING_OPTIMIZED,
            }
        ],
    }


def launch_template() -> Props:
    return {
        "imageId": "ami-0123456789abcdef0",
        "instanceType": "t4g.nano",
        "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required"},
        "blockDeviceMappings": [
            {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeType": "gp3"}}
        ],
    }


def auto_scaling_group() -> Props:
    return {
        "minSize": 1,
        "maxSize": 2,
        "vpcZoneIdentifiers": ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"],
        "healthCheckType": "ELB",
        "targetGroupArns": ["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/y"],
    }


# --- cloudfront-no-allow-all ---------------------------------------------------------------


def test_https_only_distribution_passes() -> None:
    assert run(policies.CLOUDFRONT_NO_ALLOW_ALL, policies.DISTRIBUTION, distribution()) == []


def test_allow_all_is_reported_for_default_and_ordered_behaviours() -> None:
    props = distribution()
    props["defaultCacheBehavior"]["viewerProtocolPolicy"] = "allow-all"
    props["orderedCacheBehaviors"][0]["viewerProtocolPolicy"] = "allow-all"

    assert run(policies.CLOUDFRONT_NO_ALLOW_ALL, policies.DISTRIBUTION, props) == [
        "defaultCacheBehavior.viewerProtocolPolicy is 'allow-all'; "
        "use 'redirect-to-https' or 'https-only'",
        "orderedCacheBehaviors[0] (pathPattern '/api/*').viewerProtocolPolicy is 'allow-all'; "
        "use 'redirect-to-https' or 'https-only'",
    ]


# --- cloudfront-cache-policy ---------------------------------------------------------------


def test_behaviours_with_cache_policies_pass() -> None:
    assert run(policies.CLOUDFRONT_CACHE_POLICY, policies.DISTRIBUTION, distribution()) == []


def test_missing_cache_policy_and_forwarded_values_are_reported() -> None:
    props = distribution()
    del props["defaultCacheBehavior"]["cachePolicyId"]
    props["defaultCacheBehavior"]["forwardedValues"] = {
        "queryString": True,
        "cookies": {"forward": "all"},
    }
    props["orderedCacheBehaviors"][0]["cachePolicyId"] = ""

    assert run(policies.CLOUDFRONT_CACHE_POLICY, policies.DISTRIBUTION, props) == [
        "defaultCacheBehavior has no cachePolicyId; attach a (managed) cache policy",
        "defaultCacheBehavior sets legacy forwardedValues; use a cache policy and an origin "
        "request policy instead",
        "orderedCacheBehaviors[0] (pathPattern '/api/*') has no cachePolicyId; "
        "attach a (managed) cache policy",
    ]


def test_unknown_cache_policy_id_is_not_a_violation() -> None:
    """An id of a cache policy created in the same update is unknown during a preview.

    Reading it raises UnknownValueError, which pulumi-policy reports as an advisory "can't run
    during preview" note; the policy runs again with the real id during the update.
    """
    props = distribution()
    props["defaultCacheBehavior"]["cachePolicyId"] = UNKNOWN_STRING_VALUE

    with pytest.raises(UnknownValueError):
        run(policies.CLOUDFRONT_CACHE_POLICY, policies.DISTRIBUTION, proxied(props))


# --- no-world-open-ingress -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_type", "props"),
    [
        pytest.param(
            policies.SECURITY_GROUP_INGRESS_RULE,
            {
                "ipProtocol": "tcp",
                "fromPort": 80,
                "toPort": 80,
                "prefixListId": CLOUDFRONT_PREFIX_LIST,
            },
            id="ingress-rule-from-cloudfront-prefix-list",
        ),
        pytest.param(
            policies.SECURITY_GROUP_INGRESS_RULE,
            {"ipProtocol": "tcp", "fromPort": 8080, "toPort": 8080, "cidrIpv4": "10.0.0.0/16"},
            id="ingress-rule-from-vpc",
        ),
        pytest.param(
            policies.SECURITY_GROUP,
            {
                "ingress": [
                    {"protocol": "tcp", "fromPort": 80, "toPort": 80, "securityGroups": ["sg-1"]}
                ]
            },
            id="group-with-ingress-from-a-group",
        ),
        pytest.param(
            policies.SECURITY_GROUP,
            {
                "egress": [
                    {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}
                ]
            },
            id="group-with-open-egress",
        ),
        pytest.param(
            policies.SECURITY_GROUP_RULE,
            {
                "type": "egress",
                "protocol": "-1",
                "fromPort": 0,
                "toPort": 0,
                "cidrBlocks": ["0.0.0.0/0"],
            },
            id="egress-rule-to-anywhere",
        ),
        pytest.param(
            policies.SECURITY_GROUP_RULE,
            {
                "type": "ingress",
                "protocol": "tcp",
                "fromPort": 80,
                "toPort": 80,
                "prefixListIds": [CLOUDFRONT_PREFIX_LIST],
            },
            id="ingress-rule-from-prefix-list",
        ),
    ],
)
def test_ingress_that_is_not_world_open_passes(resource_type: str, props: Props) -> None:
    assert run(policies.NO_WORLD_OPEN_INGRESS, resource_type, props) == []


@pytest.mark.parametrize(
    ("resource_type", "props", "message"),
    [
        pytest.param(
            policies.SECURITY_GROUP_INGRESS_RULE,
            {"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "cidrIpv4": "0.0.0.0/0"},
            f"cidrIpv4 '0.0.0.0/0' opens this ingress rule to the whole internet; {HINT}",
            id="ingress-rule-ipv4",
        ),
        pytest.param(
            policies.SECURITY_GROUP_INGRESS_RULE,
            {"ipProtocol": "tcp", "fromPort": 80, "toPort": 80, "cidrIpv6": "::/0"},
            f"cidrIpv6 '::/0' opens this ingress rule to the whole internet; {HINT}",
            id="ingress-rule-ipv6",
        ),
        pytest.param(
            policies.SECURITY_GROUP,
            {
                "ingress": [
                    {"protocol": "tcp", "fromPort": 80, "toPort": 80, "securityGroups": ["sg-1"]},
                    {
                        "protocol": "tcp",
                        "fromPort": 443,
                        "toPort": 443,
                        "cidrBlocks": ["10.0.0.0/8", "0.0.0.0/0"],
                        "ipv6CidrBlocks": ["::/0"],
                    },
                ]
            },
            f"ingress[1] admits 0.0.0.0/0, ::/0 (the whole internet); {HINT}",
            id="group-inline-ingress",
        ),
        pytest.param(
            policies.SECURITY_GROUP_RULE,
            {
                "type": "ingress",
                "protocol": "tcp",
                "fromPort": 80,
                "toPort": 80,
                "cidrBlocks": ["0.0.0.0/0"],
            },
            f"ingress rule admits 0.0.0.0/0 (the whole internet); {HINT}",
            id="rule-ipv4",
        ),
        pytest.param(
            policies.SECURITY_GROUP_RULE,
            {
                "type": "ingress",
                "protocol": "-1",
                "fromPort": 0,
                "toPort": 0,
                "ipv6CidrBlocks": ["::/0"],
            },
            f"ingress rule admits ::/0 (the whole internet); {HINT}",
            id="rule-ipv6",
        ),
    ],
)
def test_world_open_ingress_is_reported(resource_type: str, props: Props, message: str) -> None:
    assert run(policies.NO_WORLD_OPEN_INGRESS, resource_type, props) == [message]


@pytest.mark.parametrize(
    ("cidr", "world"),
    [
        ("0.0.0.0/0", True),
        ("::/0", True),
        ("0::/0", True),
        (" 0.0.0.0/0 ", True),
        ("0.0.0.0/1", False),
        ("10.0.0.0/16", False),
        ("not-a-cidr", False),
        (None, False),
    ],
)
def test_is_world(cidr: str | None, world: bool) -> None:
    assert policies.is_world(cidr) is world


# --- launch-template-imdsv2 ----------------------------------------------------------------


def test_launch_template_requiring_imdsv2_passes() -> None:
    assert run(policies.LAUNCH_TEMPLATE_IMDSV2, policies.LAUNCH_TEMPLATE, launch_template()) == []


@pytest.mark.parametrize(
    ("metadata_options", "shown"),
    [
        pytest.param(
            {"httpEndpoint": "enabled", "httpTokens": "optional"}, "'optional'", id="optional"
        ),
        pytest.param({"httpEndpoint": "enabled"}, "not set", id="tokens-not-set"),
        pytest.param(None, "not set", id="no-metadata-options"),
    ],
)
def test_launch_template_without_imdsv2_is_reported(
    metadata_options: Props | None, shown: str
) -> None:
    props = launch_template()
    if metadata_options is None:
        del props["metadataOptions"]
    else:
        props["metadataOptions"] = metadata_options

    assert run(policies.LAUNCH_TEMPLATE_IMDSV2, policies.LAUNCH_TEMPLATE, props) == [
        f"metadataOptions.httpTokens is {shown}; set it to 'required' (IMDSv2 only)"
    ]


# --- launch-template-encrypted-volumes -----------------------------------------------------


@pytest.mark.parametrize("encrypted", ["true", True])
def test_launch_template_with_encrypted_volumes_passes(encrypted: str | bool) -> None:
    props = launch_template()
    props["blockDeviceMappings"][0]["ebs"]["encrypted"] = encrypted
    props["blockDeviceMappings"].append({"deviceName": "/dev/sdb", "virtualName": "ephemeral0"})

    policy = policies.LAUNCH_TEMPLATE_ENCRYPTED_VOLUMES
    assert run(policy, policies.LAUNCH_TEMPLATE, props) == []


def test_unencrypted_volumes_are_reported() -> None:
    props = launch_template()
    props["blockDeviceMappings"] += [
        {"deviceName": "/dev/sdb", "ebs": {"encrypted": "false", "volumeSize": 20}},
        {"deviceName": "/dev/sdc", "ebs": {"volumeSize": 20}},
    ]

    policy = policies.LAUNCH_TEMPLATE_ENCRYPTED_VOLUMES
    assert run(policy, policies.LAUNCH_TEMPLATE, props) == [
        "blockDeviceMappings '/dev/sdb': ebs.encrypted is 'false'; set it to 'true'",
        "blockDeviceMappings '/dev/sdc': ebs.encrypted is not set; set it to 'true'",
    ]


@pytest.mark.parametrize(
    "mappings",
    [
        pytest.param(None, id="no-mappings"),
        pytest.param([], id="empty-list"),
        pytest.param([{"deviceName": "/dev/sdb", "noDevice": ""}], id="no-ebs-mapping"),
    ],
)
def test_launch_template_without_ebs_volumes_is_reported(mappings: list[Props] | None) -> None:
    props = launch_template()
    if mappings is None:
        del props["blockDeviceMappings"]
    else:
        props["blockDeviceMappings"] = mappings

    policy = policies.LAUNCH_TEMPLATE_ENCRYPTED_VOLUMES
    assert run(policy, policies.LAUNCH_TEMPLATE, props) == [
        "no blockDeviceMappings with an ebs volume; declare the root volume, encrypted"
    ]


# --- asg-multi-az-elb-health ---------------------------------------------------------------


def test_group_over_two_subnets_with_elb_health_checks_passes() -> None:
    policy = policies.ASG_MULTI_AZ_ELB_HEALTH
    assert run(policy, policies.AUTO_SCALING_GROUP, auto_scaling_group()) == []


@pytest.mark.parametrize(
    "subnet_ids",
    [
        pytest.param([UNKNOWN_STRING_VALUE] * 3, id="unknown-sentinels"),
        pytest.param([None, None], id="none"),
    ],
)
def test_subnet_ids_unknown_during_preview_are_counted_not_read(subnet_ids: list[Any]) -> None:
    props = auto_scaling_group()
    props["vpcZoneIdentifiers"] = subnet_ids

    policy = policies.ASG_MULTI_AZ_ELB_HEALTH
    assert run(policy, policies.AUTO_SCALING_GROUP, proxied(props)) == []


def test_single_subnet_and_ec2_health_checks_are_reported() -> None:
    props = auto_scaling_group()
    props["vpcZoneIdentifiers"] = ["subnet-0aaaaaaaaaaaaaaaa"]
    props["healthCheckType"] = "EC2"

    assert run(policies.ASG_MULTI_AZ_ELB_HEALTH, policies.AUTO_SCALING_GROUP, props) == [
        "vpcZoneIdentifiers has 1 subnet(s); give at least 2 (one per availability zone)",
        "healthCheckType is 'EC2'; set it to 'ELB' so instances the load balancer finds "
        "unhealthy are replaced",
    ]


def test_group_without_subnets_or_health_check_type_is_reported() -> None:
    props = {"minSize": 1, "maxSize": 2, "availabilityZones": ["us-east-1a", "us-east-1b"]}

    assert run(policies.ASG_MULTI_AZ_ELB_HEALTH, policies.AUTO_SCALING_GROUP, props) == [
        "vpcZoneIdentifiers has 0 subnet(s); give at least 2 (one per availability zone)",
        "healthCheckType is not set; set it to 'ELB' so instances the load balancer finds "
        "unhealthy are replaced",
    ]


# --- The pack ------------------------------------------------------------------------------


def test_policies_ignore_other_resource_types() -> None:
    """Each policy applies only to its types, whatever another resource's inputs say."""
    anything_bad: Props = {
        "defaultCacheBehavior": {"viewerProtocolPolicy": "allow-all"},
        "cidrIpv4": "0.0.0.0/0",
        "type": "ingress",
        "cidrBlocks": ["0.0.0.0/0"],
    }
    for policy in policies.POLICIES:
        assert run(policy, "aws:s3/bucketV2:BucketV2", anything_bad) == [], policy.name


def test_pack_holds_the_six_mandatory_policies() -> None:
    assert [policy.name for policy in policies.POLICIES] == [
        "cloudfront-no-allow-all",
        "cloudfront-cache-policy",
        "no-world-open-ingress",
        "launch-template-imdsv2",
        "launch-template-encrypted-volumes",
        "asg-multi-az-elb-health",
    ]
    assert {policy.enforcement_level for policy in policies.POLICIES} == {
        EnforcementLevel.MANDATORY
    }


def test_entry_point_builds_the_mandatory_pack_from_policies() -> None:
    """__main__.py serves the pack when imported, so read its source instead of running it."""
    tree = ast.parse((POLICY_DIR / "__main__.py").read_text(encoding="utf-8"))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "PolicyPack"
    ]
    assert len(calls) == 1
    keywords = {keyword.arg: ast.unparse(keyword.value) for keyword in calls[0].keywords}
    assert keywords == {
        "name": "'cdn-alb-backend-guardrails'",
        "enforcement_level": "EnforcementLevel.MANDATORY",
        "policies": "list(POLICIES)",
    }


def test_pack_project_runs_python_in_its_own_virtualenv() -> None:
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    requirements = (POLICY_DIR / "requirements.txt").read_text(encoding="utf-8").split()
    assert "pulumi-policy~=1.21" in requirements
