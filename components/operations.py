"""Operations: alarms an on-call engineer can act on, and where they are sent.

Four alarms watch what a user would feel: the backend answering 5xx, instances failing health
checks, fewer healthy instances than the group's minimum, and CloudFront's own 5xx rate. All
notify one SNS topic (plus a twin in us-east-1, where CloudFront's metrics and so its alarm
live), both when they fire and when they clear. Scaling belongs to the backend's group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import component_types
from components.dashboard import (
    CLOUDFRONT_METRICS_REGION,
    CpuCredits,
    DashboardTargets,
    dashboard_body,
    dashboard_url,
)

HOST_CHECK_PERIOD_SECONDS = 60
ERROR_PERIOD_SECONDS = 300


# The alarms that also guard rollouts: an instance refresh rolls back when one fires.
ROLLOUT_GUARDS = ("target-5xx", "unhealthy-hosts")


def alarm_name(suffix: str) -> str:
    """An alarm's name: the stack's, then what it watches. Fixed (not generated) so on-call
    reads it at a glance, and so the backend's rollouts can name their guards before the
    alarms exist."""
    return f"{pulumi.get_project()}-{pulumi.get_stack()}-{suffix}"


@dataclass(frozen=True)
class OperationsSettings:
    region: str  # the stack's region
    # How on-call opens a shell on an instance, and the service's journal unit there.
    shell_command: str
    service_unit: str
    alarm_email: str | None  # subscribed to the alarm topics; None: no subscription
    target_5xx_threshold: int  # backend 5xx answers per 5 minutes
    cloudfront_5xx_rate_threshold: int  # percent of viewer requests answered 5xx
    evaluation_periods: int  # consecutive minutes a host-count alarm must hold


@dataclass(frozen=True)
class OperationsArgs:
    settings: OperationsSettings
    asg_name: pulumi.Input[str]
    min_healthy_hosts: int  # the group's minSize
    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    distribution_id: pulumi.Input[str]
    cpu_credits: CpuCredits | None = None  # the instances' credit mode; None: not burstable


@dataclass(frozen=True)
class AlarmRule:
    """What one alarm watches, when it fires, and what on-call should check first."""

    runbook: str  # the alarm's description: what it means, and the first thing to check
    namespace: str
    metric_name: str
    statistic: str
    period: int
    evaluation_periods: int
    comparison_operator: str
    threshold: float
    treat_missing_data: str


class Operations(pulumi.ComponentResource):
    alarm_topic_arn: pulumi.Output[str]
    edge_alarm_topic_arn: pulumi.Output[str]  # in us-east-1 (the same topic if the stack is)
    dashboard_url: str

    def __init__(
        self,
        name: str,
        args: OperationsArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(component_types.OPERATIONS, name, None, opts)
        settings = args.settings
        self._dashboard_name = alarm_name("operations")
        self.dashboard_url = dashboard_url(settings.region, self._dashboard_name)
        self._dashboard(name, args)

        # Not KMS-encrypted: CloudWatch cannot publish to a topic under the AWS managed SNS key,
        # and alarm notifications carry nothing secret.
        topic = self._topic(f"{name}-alarms", None, settings.alarm_email)
        edge_topic = (
            topic
            if settings.region == CLOUDFRONT_METRICS_REGION
            else self._topic(f"{name}-edge-alarms", CLOUDFRONT_METRICS_REGION, settings.alarm_email)
        )
        target_group = {
            "LoadBalancer": args.alb_arn_suffix,
            "TargetGroup": args.target_group_arn_suffix,
        }
        alarms = [
            self._alarm(
                f"{name}-{suffix}", alarm_name(suffix), rule, dimensions=target_group, topic=topic
            )
            for suffix, rule in self._backend_rules(settings, args.min_healthy_hosts).items()
        ]
        if args.cpu_credits is not None:
            alarms.append(
                self._alarm(
                    f"{name}-cpu-credits",
                    alarm_name("cpu-credits"),
                    self._credit_rule(args.cpu_credits),
                    dimensions={"AutoScalingGroupName": args.asg_name},
                    topic=topic,
                )
            )
        alarms.append(
            self._alarm(
                f"{name}-cloudfront-5xx-rate",
                alarm_name("cloudfront-5xx-rate"),
                self._cloudfront_rule(settings),
                dimensions={"DistributionId": args.distribution_id, "Region": "Global"},
                topic=edge_topic,
                region=CLOUDFRONT_METRICS_REGION,
            )
        )

        self.alarm_topic_arn = topic.arn
        self.edge_alarm_topic_arn = edge_topic.arn
        self.register_outputs(
            {
                "alarm_topic_arn": self.alarm_topic_arn,
                "edge_alarm_topic_arn": self.edge_alarm_topic_arn,
                "alarm_names": [alarm.name for alarm in alarms],
                "dashboard_url": self.dashboard_url,
            }
        )

    @staticmethod
    def _backend_rules(
        settings: OperationsSettings, min_healthy_hosts: int
    ) -> dict[str, AlarmRule]:
        """The target group's alarms, by name suffix."""
        rules = {
            "target-5xx": AlarmRule(
                runbook=(
                    "The backend answered 5xx more often than usual. First check: the service's "
                    f"journal on an instance ({settings.shell_command}, then sudo journalctl -u "
                    f"{settings.service_unit} -n 200) and what was deployed last; a rollout in "
                    "progress rolls itself back."
                ),
                namespace="AWS/ApplicationELB",
                metric_name="HTTPCode_Target_5XX_Count",
                statistic="Sum",
                period=ERROR_PERIOD_SECONDS,
                evaluation_periods=1,
                comparison_operator="GreaterThanThreshold",
                threshold=settings.target_5xx_threshold,
                treat_missing_data="notBreaching",  # no requests, no errors
            ),
            "unhealthy-hosts": AlarmRule(
                runbook=(
                    "Instances are failing the load balancer's health check. First check: the "
                    "target group's health reasons in the console, then the service on an "
                    f"instance ({settings.shell_command}, then sudo systemctl status "
                    f"{settings.service_unit}); the group replaces unhealthy instances by itself."
                ),
                namespace="AWS/ApplicationELB",
                metric_name="UnHealthyHostCount",
                statistic="Maximum",
                period=HOST_CHECK_PERIOD_SECONDS,
                evaluation_periods=settings.evaluation_periods,
                comparison_operator="GreaterThanThreshold",
                threshold=0,
                treat_missing_data="notBreaching",  # reported only while targets are registered
            ),
        }
        if min_healthy_hosts > 0:
            rules["too-few-healthy-hosts"] = AlarmRule(
                runbook=(
                    "Fewer healthy instances than the group's minimum: capacity is short "
                    "and users may see errors. First check: the group's activity history "
                    "(launch failures, capacity errors) and the unhealthy-hosts alarm."
                ),
                namespace="AWS/ApplicationELB",
                metric_name="HealthyHostCount",
                statistic="Minimum",
                period=HOST_CHECK_PERIOD_SECONDS,
                evaluation_periods=settings.evaluation_periods,
                comparison_operator="LessThanThreshold",
                threshold=min_healthy_hosts,
                treat_missing_data="breaching",  # no report means no healthy host at all
            )
        return rules

    def _dashboard(self, name: str, args: OperationsArgs) -> None:
        targets = pulumi.Output.all(
            args.distribution_id, args.alb_arn_suffix, args.target_group_arn_suffix, args.asg_name
        ).apply(
            lambda ids: DashboardTargets(
                region=args.settings.region,
                distribution_id=ids[0],
                load_balancer=ids[1],
                target_group=ids[2],
                auto_scaling_group=ids[3],
                cpu_credits=args.cpu_credits,
            )
        )
        aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=self._dashboard_name,
            dashboard_body=targets.apply(lambda t: json.dumps(dashboard_body(t))),
            opts=pulumi.ResourceOptions(parent=self),
        )

    @staticmethod
    def _credit_rule(cpu_credits: CpuCredits) -> AlarmRule:
        """Burstable instances: held at baseline (standard), or billed for bursting (unlimited)."""
        if cpu_credits is CpuCredits.STANDARD:
            return AlarmRule(
                runbook=(
                    "Every instance has spent its CPU credits and is held at its baseline CPU: "
                    "requests slow down. First check: the dashboard's CPU widgets; then a larger "
                    "instanceType, a higher minSize, or cpuCredits unlimited (billed per surplus "
                    "credit)."
                ),
                namespace="AWS/EC2",
                metric_name="CPUCreditBalance",
                statistic="Maximum",  # the best-off instance: all of them are out
                period=ERROR_PERIOD_SECONDS,
                # A new instance starts with few credits; half an hour lets it earn some.
                evaluation_periods=6,
                comparison_operator="LessThanThreshold",
                threshold=1,
                treat_missing_data="notBreaching",
            )
        return AlarmRule(
            runbook=(
                "Instances are bursting beyond their earned CPU credits, and the surplus is "
                "billed. First check: the dashboard's CPU widgets; a sustained load wants a "
                "larger instanceType or more instances, which cost less than surplus credits."
            ),
            namespace="AWS/EC2",
            metric_name="CPUSurplusCreditsCharged",
            statistic="Sum",
            period=3600,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            treat_missing_data="notBreaching",
        )

    @staticmethod
    def _cloudfront_rule(settings: OperationsSettings) -> AlarmRule:
        return AlarmRule(
            runbook=(
                "Viewers get 5xx from CloudFront. First check: whether the ALB alarms fire "
                "too (backend), else 502/504 from the origin (ALB reachable? origin secret "
                "rotated?) in the distribution's monitoring."
            ),
            namespace="AWS/CloudFront",
            metric_name="5xxErrorRate",
            statistic="Average",
            period=ERROR_PERIOD_SECONDS,
            evaluation_periods=1,
            comparison_operator="GreaterThanThreshold",
            threshold=settings.cloudfront_5xx_rate_threshold,
            treat_missing_data="notBreaching",  # no viewers, no rate
        )

    def _alarm(
        self,
        name: str,
        alarm_name: str,
        rule: AlarmRule,
        *,
        dimensions: dict[str, pulumi.Input[str]],
        topic: aws.sns.Topic,
        region: str | None = None,
    ) -> aws.cloudwatch.MetricAlarm:
        """An alarm that tells `topic` both when it fires and when it clears."""
        return aws.cloudwatch.MetricAlarm(
            name,
            name=alarm_name,
            region=region,
            alarm_description=f"{rule.runbook} Dashboard: {self.dashboard_url}",
            namespace=rule.namespace,
            metric_name=rule.metric_name,
            dimensions=dimensions,
            statistic=rule.statistic,
            period=rule.period,
            evaluation_periods=rule.evaluation_periods,
            comparison_operator=rule.comparison_operator,
            threshold=rule.threshold,
            treat_missing_data=rule.treat_missing_data,
            alarm_actions=[topic.arn],
            ok_actions=[topic.arn],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _topic(self, name: str, region: str | None, email: str | None) -> aws.sns.Topic:
        topic = aws.sns.Topic(name, region=region, opts=pulumi.ResourceOptions(parent=self))
        if email:
            # AWS mails a confirmation link; nothing arrives until someone clicks it.
            aws.sns.TopicSubscription(
                f"{name}-email",
                region=region,
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=pulumi.ResourceOptions(parent=self),
            )
        return topic
