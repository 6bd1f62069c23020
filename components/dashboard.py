"""The stack's CloudWatch dashboard: what a user feels, from the edge to the instances.

Three rows, left to right in the order a request travels:

    | CloudFront requests   | CloudFront 4xx / 5xx %  | ALB requests            |
    | Target response time  | Target 5xx              | Healthy / unhealthy     |
    |  p50 / p90 / p99      |                         |  hosts                  |
    | In service / desired  | Instance CPU %          | CPU credits (burstable) |

A pure function of the resources' identifiers, so a test can check that every metric names
exactly this stack's distribution, load balancer, target group and Auto Scaling group.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

CLOUDFRONT_METRICS_REGION = "us-east-1"  # CloudFront publishes its metrics only there
WIDGET_WIDTH = 8  # three widgets per row of the 24-unit grid
WIDGET_HEIGHT = 6
PERIOD_SECONDS = 60


class CpuCredits(StrEnum):
    """How a burstable instance (t2, t3, t3a, t4g) pays for CPU above its baseline."""

    STANDARD = "standard"  # spends earned credits, then is held at its baseline: no extra cost
    UNLIMITED = "unlimited"  # keeps bursting, and bills surplus credits past the earned ones


@dataclass(frozen=True)
class DashboardTargets:
    """The identifiers of what the dashboard watches (CloudWatch dimension values)."""

    region: str  # the stack's region
    distribution_id: str
    load_balancer: str  # the ALB's ARN suffix: app/<name>/<id>
    target_group: str  # the target group's ARN suffix: targetgroup/<name>/<id>
    auto_scaling_group: str
    cpu_credits: CpuCredits | None  # None: not a burstable instance type


def _widget(title: str, metrics: list[list[Any]], region: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "metric",
        "width": WIDGET_WIDTH,
        "height": WIDGET_HEIGHT,
        "properties": {
            "title": title,
            "region": region,
            "metrics": metrics,
            "period": PERIOD_SECONDS,
            "view": "timeSeries",
            "stacked": False,
            **properties,
        },
    }


def _credit_widget(targets: DashboardTargets) -> dict[str, Any] | None:
    if targets.cpu_credits is None:
        return None
    group = ["AutoScalingGroupName", targets.auto_scaling_group]
    metric = (
        "CPUCreditBalance"
        if targets.cpu_credits is CpuCredits.STANDARD
        else "CPUSurplusCreditsCharged"
    )
    statistic = "Minimum" if targets.cpu_credits is CpuCredits.STANDARD else "Sum"
    return _widget(
        f"CPU credits ({targets.cpu_credits.value})",
        [["AWS/EC2", metric, *group, {"stat": statistic}]],
        targets.region,
    )


def dashboard_body(targets: DashboardTargets) -> dict[str, Any]:
    """The dashboard's JSON body, as CloudWatch's PutDashboard takes it."""
    edge = ["DistributionId", targets.distribution_id, "Region", "Global"]
    alb = ["LoadBalancer", targets.load_balancer]
    target_group = ["TargetGroup", targets.target_group, *alb]
    group = ["AutoScalingGroupName", targets.auto_scaling_group]
    region = targets.region
    widgets = [
        _widget(
            "Viewer requests (CloudFront)",
            [["AWS/CloudFront", "Requests", *edge, {"stat": "Sum"}]],
            CLOUDFRONT_METRICS_REGION,
        ),
        _widget(
            "Viewer errors % (CloudFront)",
            [
                ["AWS/CloudFront", "4xxErrorRate", *edge, {"stat": "Average"}],
                ["AWS/CloudFront", "5xxErrorRate", *edge, {"stat": "Average"}],
            ],
            CLOUDFRONT_METRICS_REGION,
        ),
        _widget(
            "Load balancer requests",
            [["AWS/ApplicationELB", "RequestCount", *alb, {"stat": "Sum"}]],
            region,
        ),
        _widget(
            "Target response time (s)",
            [
                ["AWS/ApplicationELB", "TargetResponseTime", *alb, {"stat": stat}]
                for stat in ("p50", "p90", "p99")
            ],
            region,
        ),
        _widget(
            "Target 5xx",
            [["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", *target_group, {"stat": "Sum"}]],
            region,
        ),
        _widget(
            "Healthy / unhealthy hosts",
            [
                ["AWS/ApplicationELB", "HealthyHostCount", *target_group, {"stat": "Minimum"}],
                ["AWS/ApplicationELB", "UnHealthyHostCount", *target_group, {"stat": "Maximum"}],
            ],
            region,
        ),
        _widget(
            "Instances in service / desired",
            [
                ["AWS/AutoScaling", "GroupInServiceInstances", *group, {"stat": "Average"}],
                ["AWS/AutoScaling", "GroupDesiredCapacity", *group, {"stat": "Average"}],
            ],
            region,
        ),
        _widget(
            "Instance CPU %",
            [["AWS/EC2", "CPUUtilization", *group, {"stat": "Average"}]],
            region,
        ),
    ]
    if credit := _credit_widget(targets):
        widgets.append(credit)
    for index, widget in enumerate(widgets):
        widget["x"] = (index % 3) * WIDGET_WIDTH
        widget["y"] = (index // 3) * WIDGET_HEIGHT
    return {"widgets": widgets}


def dashboard_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={name}"
