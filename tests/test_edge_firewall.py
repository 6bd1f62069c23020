"""EdgeFirewall: the WAF web ACL CloudFront evaluates, as AWS receives it."""

from __future__ import annotations

import pulumi
import pytest

from components.edge_firewall import EdgeFirewall, EdgeFirewallArgs, EdgeFirewallSettings
from tests.harness import Resource, Run, run_pulumi


def build(rate_limit: int = 2000) -> Run:
    def program() -> None:
        firewall = EdgeFirewall(
            "firewall", EdgeFirewallArgs(EdgeFirewallSettings(rate_limit=rate_limit))
        )
        pulumi.export("web_acl_arn", firewall.web_acl_arn)

    return run_pulumi(program, {})


@pytest.fixture(scope="module")
def run() -> Run:
    return build()


@pytest.fixture(scope="module")
def acl(run: Run) -> Resource:
    return run.one("aws:wafv2/webAcl:WebAcl")


def rules(acl: Resource) -> dict[str, dict]:
    return {rule["name"]: rule for rule in acl.inputs["rules"]}


def test_web_acl_is_for_cloudfront_in_us_east_1(acl: Resource) -> None:
    assert acl.inputs["scope"] == "CLOUDFRONT"
    assert acl.inputs["region"] == "us-east-1"
    assert acl.provider == ""  # the stack's own provider: its credentials and default tags


def test_requests_are_allowed_unless_a_rule_blocks_them(acl: Resource) -> None:
    assert acl.inputs["defaultAction"] == {"allow": {}}


def test_aws_managed_rule_groups_block_with_their_own_actions(acl: Resource) -> None:
    managed = {
        name: rule
        for name, rule in rules(acl).items()
        if "managedRuleGroupStatement" in rule["statement"]
    }

    assert set(managed) == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    for name, rule in managed.items():
        assert rule["statement"]["managedRuleGroupStatement"] == {"vendorName": "AWS", "name": name}
        assert rule["overrideAction"] == {"none": {}}


@pytest.mark.parametrize("limit", [10, 2000, 100_000])
def test_rate_rule_blocks_an_ip_over_the_configured_limit(limit: int) -> None:
    rule = rules(build(limit).one("aws:wafv2/webAcl:WebAcl"))["rate-limit-per-ip"]

    assert rule["action"] == {"block": {}}
    assert rule["statement"]["rateBasedStatement"] == {
        "aggregateKeyType": "IP",
        "limit": limit,
        "evaluationWindowSec": 300,
    }
    assert rule["priority"] == 0  # before the managed groups: cheap, and stops floods first


def test_rule_priorities_are_unique(acl: Resource) -> None:
    priorities = [rule["priority"] for rule in acl.inputs["rules"]]

    assert sorted(priorities) == [0, 1, 2, 3]


def test_metrics_and_sampled_requests_are_on_everywhere(acl: Resource) -> None:
    configs = [acl.inputs["visibilityConfig"]] + [
        r["visibilityConfig"] for r in acl.inputs["rules"]
    ]

    assert all(c["cloudwatchMetricsEnabled"] is True for c in configs)
    assert all(c["sampledRequestsEnabled"] is True for c in configs)
    assert len({c["metricName"] for c in configs}) == len(configs)


def test_outputs_and_former_type(run: Run, acl: Resource) -> None:
    component = run.one("cdn-alb-backend:edge_firewall:EdgeFirewall")
    # Renamed from cdn-alb-backend:firewall:EdgeFirewall; the alias keeps existing stacks' ACL.
    assert component.aliases == ("cdn-alb-backend:firewall:EdgeFirewall",)

    assert run.exports == {"web_acl_arn": acl.outputs["arn"]}
