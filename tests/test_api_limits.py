"""Names, descriptions and tags against the limits the AWS APIs enforce.

The mocks accept any string; AWS does not, and a bad description fails a deploy only after the
resources before it were created (a VPC origin takes 5-15 minutes). So every such value the
program sends is checked here, in every stack file and origin-access/NAT mode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import MODE_IDS, MODES, STACKS
from tests.harness import (
    PROJECT_NAME,
    Resource,
    Run,
    is_secret,
    run_stack,
    stack_config,
)

# EC2 CreateSecurityGroup / AuthorizeSecurityGroupIngress: GroupDescription and rule
# Description, "a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*", at most 255 characters.
EC2_DESCRIPTION = re.compile(r"[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}")
# CloudFront DistributionConfig.Comment: at most 128 characters.
CLOUDFRONT_COMMENT_LIMIT = 128
# WAF VisibilityConfig.MetricName: 1-255 of letters, digits and #:._-/ (no whitespace), and not
# one of the names WAF reserves. Rule names: 1-128 of letters, digits, _ and -.
WAF_METRIC_NAME = re.compile(r"[\w#:.\-/]{1,255}")
WAF_RESERVED_METRIC_NAMES = {"All", "Default_Action"}
WAF_RULE_NAME = re.compile(r"[\w\-]{1,128}")
# Tags (EC2 and most services): keys 1-128, values 0-256, of letters, digits, spaces and
# _.:/=+-@; the aws: prefix is reserved.
TAG_KEY = re.compile(r"[\w .:/=+\-@]{1,128}")
TAG_VALUE = re.compile(r"[\w .:/=+\-@]{0,256}")
# Launch template VersionDescription / IAM role Description, CloudWatch AlarmDescription.
LAUNCH_TEMPLATE_DESCRIPTION_LIMIT = 255
IAM_DESCRIPTION = re.compile(r"[\t\n\r\u0020-\u007e\u00a1-\u00ff]{0,1000}")
ALARM_DESCRIPTION_LIMIT = 1024
# Pulumi names these from the logical name plus "-" and 7 random characters; ELB allows 32.
ELB_NAME_LIMIT = 32
AUTONAME_SUFFIX = 8

SECURITY_GROUP_TYPES = (
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
)


def plain(value: Any) -> Any:
    """A recorded input with Pulumi's secret envelopes removed, at any depth."""
    if is_secret(value):
        return plain(value["value"])
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


@pytest.fixture(scope="module", params=MODES, ids=MODE_IDS)
def run(request: pytest.FixtureRequest) -> Run:
    stack, overrides = request.param
    return run_stack(stack, **overrides)


def test_security_group_and_rule_descriptions_use_only_what_ec2_accepts(run: Run) -> None:
    descriptions = {
        resource.name: resource.inputs["description"]
        for type_ in SECURITY_GROUP_TYPES
        for resource in run.of_type(type_)
    }

    assert len(descriptions) >= 6  # two groups and their rules, whatever the mode
    bad = {name: text for name, text in descriptions.items() if not EC2_DESCRIPTION.fullmatch(text)}
    assert bad == {}


def test_every_security_group_rule_says_what_it_is_for(run: Run) -> None:
    for type_ in SECURITY_GROUP_TYPES:
        for resource in run.of_type(type_):
            assert resource.inputs.get("description"), resource.name


def test_distribution_comment_fits_cloudfront(run: Run) -> None:
    comment = run.one("aws:cloudfront/distribution:Distribution").inputs["comment"]

    assert 0 < len(comment) <= CLOUDFRONT_COMMENT_LIMIT


def waf_metric_names(run: Run) -> Iterator[str]:
    for acl in run.of_type("aws:wafv2/webAcl:WebAcl"):
        yield acl.inputs["visibilityConfig"]["metricName"]
        for rule in plain(acl.inputs["rules"]):
            yield rule["visibilityConfig"]["metricName"]


def test_waf_metric_and_rule_names_fit_waf(run: Run) -> None:
    names = list(waf_metric_names(run))
    rule_names = [
        rule["name"]
        for acl in run.of_type("aws:wafv2/webAcl:WebAcl")
        for rule in plain(acl.inputs["rules"])
    ]

    assert [n for n in names if not WAF_METRIC_NAME.fullmatch(n)] == []
    assert WAF_RESERVED_METRIC_NAMES.isdisjoint(names)
    assert len(set(names)) == len(names)  # each metric is its own
    assert [n for n in rule_names if not WAF_RULE_NAME.fullmatch(n)] == []


def resource_tags(resource: Resource) -> Iterator[dict[str, str]]:
    inputs = plain(resource.inputs)
    if isinstance(inputs.get("tags"), dict):
        yield inputs["tags"]
    for specification in inputs.get("tagSpecifications") or []:
        yield specification["tags"]


def test_tags_fit_the_tagging_rules(run: Run) -> None:
    tags = [tag for resource in run.resources for tag in resource_tags(resource)]

    assert tags, "no tags recorded: the check would pass vacuously"
    for tag_set in tags:
        for key, value in tag_set.items():
            assert TAG_KEY.fullmatch(key), key
            assert not key.lower().startswith("aws:"), key
            assert TAG_VALUE.fullmatch(value), (key, value)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_default_tags_fit_the_tagging_rules(stack: str) -> None:
    tags = json.loads(stack_config(stack)["aws:defaultTags"])["tags"]

    assert tags
    for key, value in tags.items():
        assert TAG_KEY.fullmatch(key), key
        assert TAG_VALUE.fullmatch(value), (key, value)


def test_descriptions_fit_their_services(run: Run) -> None:
    template = run.one("aws:ec2/launchTemplate:LaunchTemplate")
    roles = run.of_type("aws:iam/role:Role")
    alarms = run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")

    assert len(template.inputs["description"]) <= LAUNCH_TEMPLATE_DESCRIPTION_LIMIT
    assert roles
    assert all(IAM_DESCRIPTION.fullmatch(role.inputs["description"]) for role in roles)
    assert alarms
    assert [
        a.name for a in alarms if len(a.inputs["alarmDescription"]) > ALARM_DESCRIPTION_LIMIT
    ] == []


def test_load_balancer_and_target_group_names_fit_elb(run: Run) -> None:
    for type_ in ("aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup"):
        resource = run.one(type_)
        assert "name" not in resource.inputs  # Pulumi names it: unique, and replaceable
        assert len(resource.name) + AUTONAME_SUFFIX <= ELB_NAME_LIMIT, resource.name


def test_checks_see_the_mode_they_claim(run: Run) -> None:
    """Guards the fixture: the vpcOrigin modes do create the VPC-origin rule checked above."""
    internal = run.one("aws:lb/loadBalancer:LoadBalancer").inputs["internal"]
    vpc_origin_rules = [r for r in run.resources if r.name.endswith("-alb-from-vpc-origin")]

    assert len(vpc_origin_rules) == (1 if internal else 0)
    assert run.resources[0].urn.split("::")[1] == PROJECT_NAME
