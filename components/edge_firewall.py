"""EdgeFirewall: an AWS WAF web ACL for the distribution, evaluated at CloudFront's edge.

Its decisions are logged (FSBP WAF.11) to a CloudWatch Logs group in us-east-1, where WAF
requires the destination of a CloudFront-scope web ACL to be. CloudWatch Logs rather than the
stack's log bucket: WAF writes only to buckets named `aws-waf-logs-*`, while a log group gives
retention in days and Logs Insights queries the moment an on-call engineer asks "why was this
client blocked?". Authorization headers and cookies are redacted. By default only blocked and
counted requests are kept: allowed traffic is in CloudFront's access logs already, and it is
what would make WAF logging cost in proportion to traffic.

A web ACL for CloudFront must live in us-east-1 whatever the stack's region. pulumi-aws v7 puts
a single resource in another region with its `region` argument, so the stack's one provider
(its credentials, profile and default tags) serves here too
(https://www.pulumi.com/registry/packages/aws/how-to-guides/aws-enhanced-region-support).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import component_types

CLOUDFRONT_REGION = "us-east-1"
RATE_WINDOW_SECONDS = 300
# AWS managed rule groups, cheapest first-line protection for an API
# (https://docs.aws.amazon.com/waf/latest/developerguide/aws-managed-rule-groups-list.html).
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",  # known malicious sources, bots, scanners
    "AWSManagedRulesCommonRuleSet",  # OWASP-style common exploits
    "AWSManagedRulesKnownBadInputsRuleSet",  # e.g. Log4j and other known-bad payloads
)
MIN_RATE_LIMIT = 10  # the smallest limit AWS WAF accepts per evaluation window
MAX_RATE_LIMIT = 2_000_000_000


# CloudWatch Logs keeps log events for one of these numbers of days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)
LOG_GROUP_PREFIX = "aws-waf-logs-"  # WAF refuses any other log group name
REDACTED_HEADERS = ("authorization", "cookie")  # lower case, as WAF requires


@dataclass(frozen=True)
class EdgeFirewallSettings:
    rate_limit: int  # requests per client IP per 5 minutes before WAF blocks it
    log_retention_days: int  # days WAF log events are kept (rounded down to what CloudWatch offers)
    log_all_requests: bool  # False: only blocked and counted requests are logged


def log_group_retention(days: int) -> int:
    """The longest retention CloudWatch Logs offers that does not exceed `days`."""
    return max((offered for offered in LOG_RETENTION_DAYS if offered <= days), default=1)


def _visibility(metric_name: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
    return aws.wafv2.WebAclRuleVisibilityConfigArgs(
        cloudwatch_metrics_enabled=True, sampled_requests_enabled=True, metric_name=metric_name
    )


@dataclass(frozen=True)
class EdgeFirewallArgs:
    settings: EdgeFirewallSettings


class EdgeFirewall(pulumi.ComponentResource):
    web_acl_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: EdgeFirewallArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            component_types.EDGE_FIREWALL,
            name,
            None,
            component_types.formerly(component_types.EDGE_FIREWALL_BEFORE, opts),
        )
        settings = args.settings

        rate_rule = aws.wafv2.WebAclRuleArgs(
            name="rate-limit-per-ip",
            priority=0,
            action=aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs()),
            statement=aws.wafv2.WebAclRuleStatementArgs(
                rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                    aggregate_key_type="IP",
                    limit=settings.rate_limit,
                    evaluation_window_sec=RATE_WINDOW_SECONDS,
                )
            ),
            visibility_config=_visibility(f"{name}-rate-limit"),
        )
        managed_rules = [
            aws.wafv2.WebAclRuleArgs(
                name=group,
                priority=priority,
                # "none" keeps each group's own actions (block); "count" would only observe.
                override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
                    none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()
                ),
                statement=aws.wafv2.WebAclRuleStatementArgs(
                    managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                        vendor_name="AWS", name=group
                    )
                ),
                visibility_config=_visibility(f"{name}-{group}"),
            )
            for priority, group in enumerate(MANAGED_RULE_GROUPS, start=1)
        ]
        web_acl = aws.wafv2.WebAcl(
            f"{name}-acl",
            region=CLOUDFRONT_REGION,
            scope="CLOUDFRONT",
            description="Rate limit and AWS managed rules in front of the API",
            default_action=aws.wafv2.WebAclDefaultActionArgs(
                allow=aws.wafv2.WebAclDefaultActionAllowArgs()
            ),
            rules=[rate_rule, *managed_rules],
            visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True,
                sampled_requests_enabled=True,
                metric_name=f"{name}-acl",
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

        self._request_log(name, settings, web_acl)

        self.web_acl_arn = web_acl.arn
        self.register_outputs({"web_acl_arn": self.web_acl_arn})

    def _request_log(
        self, name: str, settings: EdgeFirewallSettings, web_acl: aws.wafv2.WebAcl
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-log",
            region=CLOUDFRONT_REGION,
            name_prefix=f"{LOG_GROUP_PREFIX}{pulumi.get_project()}-{pulumi.get_stack()}-",
            retention_in_days=log_group_retention(settings.log_retention_days),
            opts=child,
        )
        kept_actions = ("BLOCK", "COUNT")
        aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-logging",
            region=CLOUDFRONT_REGION,
            resource_arn=web_acl.arn,
            log_destination_configs=[log_group.arn],
            redacted_fields=[
                aws.wafv2.WebAclLoggingConfigurationRedactedFieldArgs(
                    single_header=aws.wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(
                        name=header
                    )
                )
                for header in REDACTED_HEADERS
            ],
            logging_filter=None
            if settings.log_all_requests
            else aws.wafv2.WebAclLoggingConfigurationLoggingFilterArgs(
                default_behavior="DROP",
                filters=[
                    aws.wafv2.WebAclLoggingConfigurationLoggingFilterFilterArgs(
                        behavior="KEEP",
                        requirement="MEETS_ANY",
                        conditions=[
                            aws.wafv2.WebAclLoggingConfigurationLoggingFilterFilterConditionArgs(
                                action_condition=aws.wafv2.WebAclLoggingConfigurationLoggingFilterFilterConditionActionConditionArgs(
                                    action=action
                                )
                            )
                            for action in kept_actions
                        ],
                    )
                ],
            ),
            opts=child,
        )
