"""EdgeFirewall: the WAF web ACL CloudFront evaluates, as AWS receives it."""

from __future__ import annotations

import pulumi
import pytest

from components.edge_firewall import (
    EdgeFirewall,
    EdgeFirewallArgs,
    EdgeFirewallSettings,
    log_group_retention,
)
from tests.harness import Resource, Run, run_pulumi


def build(rate_limit: int = 2000, log_all_requests: bool = False, retention: int = 90) -> Run:
    def program() -> None:
        settings = EdgeFirewallSettings(
            rate_limit=rate_limit, log_retention_days=retention, log_all_requests=log_all_requests
        )
        firewall = EdgeFirewall("firewall", EdgeFirewallArgs(settings))
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


def test_requests_are_logged_to_a_waf_log_group_in_us_east_1(run: Run, acl: Resource) -> None:
    group = run.one("aws:cloudwatch/logGroup:LogGroup")
    logging = run.one("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")

    assert group.inputs["region"] == logging.inputs["region"] == "us-east-1"
    assert group.inputs["namePrefix"] == "aws-waf-logs-cdn-alb-backend-test-"  # WAF's rule
    assert group.inputs["retentionInDays"] == 90
    assert logging.inputs["resourceArn"] == acl.outputs["arn"]
    assert logging.inputs["logDestinationConfigs"] == [group.outputs["arn"]]


def test_credentials_never_reach_the_logs(run: Run) -> None:
    logging = run.one("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")

    assert logging.inputs["redactedFields"] == [
        {"singleHeader": {"name": "authorization"}},
        {"singleHeader": {"name": "cookie"}},
    ]


def test_only_blocked_and_counted_requests_are_kept_by_default(run: Run) -> None:
    logging = run.one("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")

    assert logging.inputs["loggingFilter"] == {
        "defaultBehavior": "DROP",
        "filters": [
            {
                "behavior": "KEEP",
                "requirement": "MEETS_ANY",
                "conditions": [
                    {"actionCondition": {"action": "BLOCK"}},
                    {"actionCondition": {"action": "COUNT"}},
                ],
            }
        ],
    }


def test_every_request_is_logged_when_asked() -> None:
    logging = build(log_all_requests=True).one(
        "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
    )

    assert "loggingFilter" not in logging.inputs


@pytest.mark.parametrize(
    ("days", "kept"), [(1, 1), (2, 1), (90, 90), (100, 90), (400, 400), (3650, 1827)]
)
def test_log_retention_is_the_longest_cloudwatch_offers_within_the_setting(
    days: int, kept: int
) -> None:
    assert log_group_retention(days) == kept
