"""Operations: scaling on load, and alarms an on-call engineer can act on.

The Auto Scaling group tracks a number of ALB requests per instance. Four alarms watch what a
user would feel: the backend answering 5xx, instances failing health checks, fewer healthy
instances than the group's minimum, and CloudFront's own 5xx rate. All notify one SNS topic
(plus a twin in us-east-1, where CloudFront's metrics and so its alarm live).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

CLOUDFRONT_METRICS_REGION = "us-east-1"  # CloudFront publishes its metrics only there
HOST_CHECK_PERIOD_SECONDS = 60
ERROR_PERIOD_SECONDS = 300


@dataclass(frozen=True)
class OperationsSettings:
    region: str  # the stack's region
    scaling_target_requests: int  # ALB requests per instance per minute the group aims for
    alarm_email: str | None  # subscribed to the alarm topics; None: no subscription
    min_healthy_hosts: int  # the group's minSize
    target_5xx_threshold: int  # backend 5xx answers per 5 minutes
    cloudfront_5xx_rate_threshold: int  # percent of viewer requests answered 5xx
    evaluation_periods: int  # consecutive minutes a host-count alarm must hold


@dataclass(frozen=True)
class OperationsArgs:
    settings: OperationsSettings
    asg_name: pulumi.Input[str]
    alb_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    distribution_id: pulumi.Input[str]


class Operations(pulumi.ComponentResource):
    alarm_topic_arn: pulumi.Output[str]
    edge_alarm_topic_arn: pulumi.Output[str]  # in us-east-1 (the same topic if the stack is)
    scaling_policy_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: OperationsArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("cdn-alb-backend:operations:Operations", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)

        policy = aws.autoscaling.Policy(
            f"{name}-requests-per-instance",
            autoscaling_group_name=args.asg_name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration=aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
                predefined_metric_specification=aws.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ALBRequestCountPerTarget",
                    resource_label=pulumi.Output.concat(
                        args.alb_arn_suffix, "/", args.target_group_arn_suffix
                    ),
                ),
                target_value=settings.scaling_target_requests,
            ),
            opts=child,
        )

        # Not KMS-encrypted: CloudWatch cannot publish to a topic under the AWS managed SNS key,
        # and alarm notifications carry nothing secret.
        topic = self._topic(f"{name}-alarms", None, settings.alarm_email)
        edge_topic = (
            topic
            if settings.region == CLOUDFRONT_METRICS_REGION
            else self._topic(f"{name}-edge-alarms", CLOUDFRONT_METRICS_REGION, settings.alarm_email)
        )

        def notify(alarm_topic: aws.sns.Topic) -> dict[str, Any]:
            """Tell the topic both when the alarm fires and when it clears."""
            return {
                "alarm_actions": [alarm_topic.arn],
                "ok_actions": [alarm_topic.arn],
                "opts": child,
            }

        target_group = {
            "LoadBalancer": args.alb_arn_suffix,
            "TargetGroup": args.target_group_arn_suffix,
        }
        alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-target-5xx",
                alarm_description=(
                    "The backend answered 5xx more often than usual. First check: the instances' "
                    "service logs (journalctl -u backend via Session Manager) and recent deploys."
                ),
                namespace="AWS/ApplicationELB",
                metric_name="HTTPCode_Target_5XX_Count",
                dimensions=target_group,
                statistic="Sum",
                period=ERROR_PERIOD_SECONDS,
                evaluation_periods=1,
                comparison_operator="GreaterThanThreshold",
                threshold=settings.target_5xx_threshold,
                treat_missing_data="notBreaching",  # no requests, no errors
                **notify(topic),
            ),
            aws.cloudwatch.MetricAlarm(
                f"{name}-unhealthy-hosts",
                alarm_description=(
                    "Instances are failing the load balancer's health check. First check: the "
                    "target group's health reasons in the console, then the service on an "
                    "instance; the group replaces unhealthy instances by itself."
                ),
                namespace="AWS/ApplicationELB",
                metric_name="UnHealthyHostCount",
                dimensions=target_group,
                statistic="Maximum",
                period=HOST_CHECK_PERIOD_SECONDS,
                evaluation_periods=settings.evaluation_periods,
                comparison_operator="GreaterThanThreshold",
                threshold=0,
                treat_missing_data="notBreaching",  # reported only while targets are registered
                **notify(topic),
            ),
        ]
        if settings.min_healthy_hosts > 0:
            alarms.append(
                aws.cloudwatch.MetricAlarm(
                    f"{name}-too-few-healthy-hosts",
                    alarm_description=(
                        "Fewer healthy instances than the group's minimum: capacity is short "
                        "and users may see errors. First check: the group's activity history "
                        "(launch failures, capacity errors) and the unhealthy-hosts alarm."
                    ),
                    namespace="AWS/ApplicationELB",
                    metric_name="HealthyHostCount",
                    dimensions=target_group,
                    statistic="Minimum",
                    period=HOST_CHECK_PERIOD_SECONDS,
                    evaluation_periods=settings.evaluation_periods,
                    comparison_operator="LessThanThreshold",
                    threshold=settings.min_healthy_hosts,
                    treat_missing_data="breaching",  # no report means no healthy host at all
                    **notify(topic),
                )
            )
        alarms.append(
            aws.cloudwatch.MetricAlarm(
                f"{name}-cloudfront-5xx-rate",
                region=CLOUDFRONT_METRICS_REGION,
                alarm_description=(
                    "Viewers get 5xx from CloudFront. First check: whether the ALB alarms fire "
                    "too (backend), else 502/504 from the origin (ALB reachable? origin secret "
                    "rotated?) in the distribution's monitoring."
                ),
                namespace="AWS/CloudFront",
                metric_name="5xxErrorRate",
                dimensions={"DistributionId": args.distribution_id, "Region": "Global"},
                statistic="Average",
                period=ERROR_PERIOD_SECONDS,
                evaluation_periods=1,
                comparison_operator="GreaterThanThreshold",
                threshold=settings.cloudfront_5xx_rate_threshold,
                treat_missing_data="notBreaching",  # no viewers, no rate
                **notify(edge_topic),
            )
        )

        self.alarm_topic_arn = topic.arn
        self.edge_alarm_topic_arn = edge_topic.arn
        self.scaling_policy_name = policy.name
        self.register_outputs(
            {
                "alarm_topic_arn": self.alarm_topic_arn,
                "edge_alarm_topic_arn": self.edge_alarm_topic_arn,
                "scaling_policy_name": self.scaling_policy_name,
                "alarm_names": [alarm.name for alarm in alarms],
            }
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
