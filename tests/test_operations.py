"""Operations: every alarm, with the metric, dimensions and threshold AWS receives."""

from __future__ import annotations

import dataclasses
from typing import Any

import pulumi
import pytest

from components.operations import (
    ROLLOUT_GUARDS,
    Operations,
    OperationsArgs,
    OperationsSettings,
)
from tests.harness import Resource, Run, run_pulumi

ALB = "app/backend-alb/50dc6c495c0c9188"
TARGET_GROUP = "targetgroup/backend-tg/73e2d6bc24d8a067"
DISTRIBUTION = "E2QWRUHAPOMQZL"
SETTINGS = OperationsSettings(
    region="eu-west-1",
    shell_command="aws ec2-instance-connect ssh --instance-id <id> --connection-type eice",
    service_unit="backend",
    alarm_email="oncall@example.com",
    target_5xx_threshold=10,
    cloudfront_5xx_rate_threshold=5,
    evaluation_periods=3,
)


def build(min_healthy_hosts: int = 2, **changes: Any) -> Run:
    def program() -> None:
        operations = Operations(
            "operations",
            OperationsArgs(
                settings=dataclasses.replace(SETTINGS, **changes),
                asg_name="backend-asg-0a1b2c3",
                min_healthy_hosts=min_healthy_hosts,
                alb_arn_suffix=ALB,
                target_group_arn_suffix=TARGET_GROUP,
                distribution_id=DISTRIBUTION,
            ),
        )
        pulumi.export("alarm_topic_arn", operations.alarm_topic_arn)
        pulumi.export("edge_alarm_topic_arn", operations.edge_alarm_topic_arn)

    return run_pulumi(program, {})


@pytest.fixture(scope="module")
def run() -> Run:
    return build()


def alarm(run: Run, suffix: str) -> Resource:
    return run.named(f"operations-{suffix}")


def test_alarms_have_the_stacks_names_which_rollouts_use(run: Run) -> None:
    names = {
        a.name: a.inputs["name"] for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }

    assert names == {
        "operations-target-5xx": "cdn-alb-backend-test-target-5xx",
        "operations-unhealthy-hosts": "cdn-alb-backend-test-unhealthy-hosts",
        "operations-too-few-healthy-hosts": "cdn-alb-backend-test-too-few-healthy-hosts",
        "operations-cloudfront-5xx-rate": "cdn-alb-backend-test-cloudfront-5xx-rate",
    }
    assert ROLLOUT_GUARDS == ("target-5xx", "unhealthy-hosts")


def test_runbooks_name_the_shell_command_that_works(run: Run) -> None:
    description = alarm(run, "target-5xx").inputs["alarmDescription"]

    assert "aws ec2-instance-connect ssh --instance-id <id> --connection-type eice" in description
    assert "journalctl -u backend" in description


def test_backend_5xx_alarm(run: Run) -> None:
    inputs = alarm(run, "target-5xx").inputs

    assert (inputs["namespace"], inputs["metricName"]) == (
        "AWS/ApplicationELB",
        "HTTPCode_Target_5XX_Count",
    )
    assert inputs["dimensions"] == {"LoadBalancer": ALB, "TargetGroup": TARGET_GROUP}
    assert (inputs["statistic"], inputs["period"], inputs["evaluationPeriods"]) == ("Sum", 300, 1)
    assert (inputs["comparisonOperator"], inputs["threshold"]) == ("GreaterThanThreshold", 10)
    assert inputs["treatMissingData"] == "notBreaching"


def test_unhealthy_hosts_alarm(run: Run) -> None:
    inputs = alarm(run, "unhealthy-hosts").inputs

    assert (inputs["namespace"], inputs["metricName"]) == (
        "AWS/ApplicationELB",
        "UnHealthyHostCount",
    )
    assert inputs["dimensions"] == {"LoadBalancer": ALB, "TargetGroup": TARGET_GROUP}
    assert (inputs["statistic"], inputs["period"], inputs["evaluationPeriods"]) == (
        "Maximum",
        60,
        3,
    )
    assert (inputs["comparisonOperator"], inputs["threshold"]) == ("GreaterThanThreshold", 0)


def test_too_few_healthy_hosts_alarm_uses_the_group_minimum(run: Run) -> None:
    inputs = alarm(run, "too-few-healthy-hosts").inputs

    assert (inputs["namespace"], inputs["metricName"]) == ("AWS/ApplicationELB", "HealthyHostCount")
    assert inputs["dimensions"] == {"LoadBalancer": ALB, "TargetGroup": TARGET_GROUP}
    assert (inputs["statistic"], inputs["period"], inputs["evaluationPeriods"]) == (
        "Minimum",
        60,
        3,
    )
    assert (inputs["comparisonOperator"], inputs["threshold"]) == ("LessThanThreshold", 2)
    assert inputs["treatMissingData"] == "breaching"


def test_no_healthy_host_alarm_for_a_group_that_may_be_empty() -> None:
    run = build(min_healthy_hosts=0)

    assert sorted(r.name for r in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")) == [
        "operations-cloudfront-5xx-rate",
        "operations-target-5xx",
        "operations-unhealthy-hosts",
    ]


def test_cloudfront_alarm_lives_in_us_east_1_with_its_own_topic(run: Run) -> None:
    inputs = alarm(run, "cloudfront-5xx-rate").inputs
    edge_topic = run.named("operations-edge-alarms")

    assert inputs["region"] == "us-east-1"
    assert (inputs["namespace"], inputs["metricName"]) == ("AWS/CloudFront", "5xxErrorRate")
    assert inputs["dimensions"] == {"DistributionId": DISTRIBUTION, "Region": "Global"}
    assert (inputs["statistic"], inputs["period"]) == ("Average", 300)
    assert (inputs["comparisonOperator"], inputs["threshold"]) == ("GreaterThanThreshold", 5)
    assert edge_topic.inputs["region"] == "us-east-1"
    assert inputs["alarmActions"] == inputs["okActions"] == [edge_topic.outputs["arn"]]


def test_regional_alarms_notify_the_stack_regions_topic(run: Run) -> None:
    topic = run.named("operations-alarms")

    assert "region" not in topic.inputs  # the stack's region
    for suffix in ("target-5xx", "unhealthy-hosts", "too-few-healthy-hosts"):
        inputs = alarm(run, suffix).inputs
        assert "region" not in inputs
        assert inputs["alarmActions"] == inputs["okActions"] == [topic.outputs["arn"]]
        assert inputs["alarmDescription"].count("First check") == 1


def test_one_topic_serves_all_alarms_in_us_east_1() -> None:
    run = build(region="us-east-1")

    [topic] = run.of_type("aws:sns/topic:Topic")
    for resource in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        assert resource.inputs["alarmActions"] == [topic.outputs["arn"]]


def test_email_subscribes_to_every_topic_only_when_set(run: Run) -> None:
    subscriptions = run.of_type("aws:sns/topicSubscription:TopicSubscription")
    topics = {t.outputs["arn"]: t for t in run.of_type("aws:sns/topic:Topic")}

    assert sorted(s.inputs["topic"] for s in subscriptions) == sorted(topics)
    assert {(s.inputs["protocol"], s.inputs["endpoint"]) for s in subscriptions} == {
        ("email", "oncall@example.com")
    }
    assert build(alarm_email=None).of_type("aws:sns/topicSubscription:TopicSubscription") == []


def test_outputs(run: Run) -> None:
    assert run.exports == {
        "alarm_topic_arn": run.named("operations-alarms").outputs["arn"],
        "edge_alarm_topic_arn": run.named("operations-edge-alarms").outputs["arn"],
    }
