"""The whole program, run per stack file exactly as `pulumi up` would run it."""

from __future__ import annotations

import base64
import json

import pytest

from components.backend.app.server import IDLE_TIMEOUT_SECONDS
from stack_settings import SettingsError
from tests.conftest import MODE_IDS, MODES, STACKS
from tests.harness import (
    ROLLOUT_TYPE,
    Resource,
    Run,
    is_secret,
    run_main_failing,
    run_stack,
    stack_config,
    unwrap_secret,
    with_overrides,
)

STACK_KEYS = (
    "instanceType",
    "minSize",
    "maxSize",
    "desiredCapacity",
    "azCount",
    "priceClass",
    "wafEnabled",
    "accessLogs",
)
OPTIONAL_COMPONENTS = {
    "cdn-alb-backend:edge_firewall:EdgeFirewall",
    "cdn-alb-backend:log_bucket:LogBucket",
    "cdn-alb-backend:dns:DomainCertificate",
    "cdn-alb-backend:dns:DomainAlias",
}
COMPONENTS = {
    "cdn-alb-backend:network:Network",
    "cdn-alb-backend:backend:LoadBalancedBackend",
    "cdn-alb-backend:front_door:CdnFrontDoor",
    "cdn-alb-backend:operations:Operations",
}


def setting(config: dict[str, str], key: str) -> str:
    return config[f"cdn-alb-backend:{key}"]


@pytest.fixture(scope="module", params=STACKS)
def stack(request: pytest.FixtureRequest) -> tuple[dict[str, str], Run]:
    config = stack_config(request.param)
    return config, run_stack(request.param)


def distribution(run: Run) -> Resource:
    return run.one("aws:cloudfront/distribution:Distribution")


def test_distribution_fronts_the_alb_as_the_walkthrough_configures_it(
    stack: tuple[dict[str, str], Run],
) -> None:
    config, run = stack
    dist = distribution(run)
    [origin] = unwrap_secret(dist.inputs["origins"])
    behavior = dist.inputs["defaultCacheBehavior"]

    assert origin["domainName"] == run.one("aws:lb/loadBalancer:LoadBalancer").outputs["dnsName"]
    assert origin["customOriginConfig"]["originProtocolPolicy"] == "http-only"
    assert origin["customOriginConfig"]["httpPort"] == 80
    assert behavior["viewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["allowedMethods"] == [
        "GET",
        "HEAD",
        "OPTIONS",
        "PUT",
        "POST",
        "PATCH",
        "DELETE",
    ]
    assert behavior["cachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    assert behavior["originRequestPolicyId"] == "216adef6-5c7f-47e4-b989-5492eafa07d3"
    assert dist.inputs["priceClass"] == setting(config, "priceClass")


def test_distribution_sends_the_secret_the_alb_requires(stack: tuple[dict[str, str], Run]) -> None:
    _, run = stack
    [origin] = unwrap_secret(distribution(run).inputs["origins"])
    [condition] = unwrap_secret(run.one("aws:lb/listenerRule:ListenerRule").inputs["conditions"])
    secret = run.one("random:index/randomPassword:RandomPassword").outputs["result"]

    assert origin["customHeaders"] == [{"name": "X-Origin-Verify", "value": secret}]
    assert condition["httpHeader"] == {"httpHeaderName": "X-Origin-Verify", "values": [secret]}
    assert is_secret(distribution(run).inputs["origins"])
    assert secret not in repr(run.exports)


def test_exports_name_the_distribution_and_the_backend(stack: tuple[dict[str, str], Run]) -> None:
    config, run = stack
    dist = distribution(run)
    domain = setting(config, "domainName")
    region = config["aws:region"]
    dashboard = run.one("aws:cloudwatch/dashboard:Dashboard")
    stack_name = dashboard.urn.split("::")[0].removeprefix("urn:pulumi:")

    assert run.exports == {
        **({"customDomain": domain} if domain else {}),
        "distributionDomainName": dist.outputs["domainName"],
        "url": f"https://{domain or dist.outputs['domainName']}",
        "distributionId": dist.outputs["id"],
        "albDnsName": run.one("aws:lb/loadBalancer:LoadBalancer").outputs["dnsName"],
        "autoScalingGroupName": run.one("aws:autoscaling/group:Group").outputs["name"],
        "alarmTopicArn": run.named("operations-alarms").outputs["arn"],
        "dashboardUrl": f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards:name={dashboard.inputs['dashboardName']}",
        "builtinService": True,
        "healthCheckUrl": f"https://{domain or dist.outputs['domainName']}/health",
    }
    assert dashboard.inputs["dashboardName"] == f"cdn-alb-backend-{stack_name}-operations"


def test_stack_sizes_reach_the_instances(stack: tuple[dict[str, str], Run]) -> None:
    config, run = stack
    group = run.one("aws:autoscaling/group:Group")
    zones = int(setting(config, "azCount"))

    assert run.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["instanceType"] == setting(
        config, "instanceType"
    )
    assert group.inputs["minSize"] == int(setting(config, "minSize"))
    assert group.inputs["maxSize"] == int(setting(config, "maxSize"))
    assert group.inputs["desiredCapacity"] == int(setting(config, "desiredCapacity"))
    assert len(group.inputs["vpcZoneIdentifiers"]) == zones
    assert len(run.one("aws:lb/loadBalancer:LoadBalancer").inputs["subnets"]) == zones
    assert len(run.of_type("aws:ec2/subnet:Subnet")) == 2 * zones


def test_alb_and_instances_use_the_network(stack: tuple[dict[str, str], Run]) -> None:
    _, run = stack
    subnets = {s.outputs["id"]: s for s in run.of_type("aws:ec2/subnet:Subnet")}
    alb = run.one("aws:lb/loadBalancer:LoadBalancer")
    group = run.one("aws:autoscaling/group:Group")

    assert all(subnets[i].name.startswith("network-public-") for i in alb.inputs["subnets"])
    assert all(
        subnets[i].name.startswith("network-private-") for i in group.inputs["vpcZoneIdentifiers"]
    )
    vpc_id = run.one("aws:ec2/vpc:Vpc").outputs["id"]
    assert {g.inputs["vpcId"] for g in run.of_type("aws:ec2/securityGroup:SecurityGroup")} == {
        vpc_id
    }


@pytest.mark.parametrize(("stack_file", "overrides"), MODES, ids=MODE_IDS)
def test_every_resource_is_parented_to_a_component(
    stack_file: str, overrides: dict[str, str]
) -> None:
    """The one parenting check, on the whole program in every mode: a resource a component
    forgets to parent lands on the stack itself."""
    run = run_stack(stack_file, **overrides)
    components = {
        r.urn: r.type for r in run.resources if r.type in COMPONENTS | OPTIONAL_COMPONENTS
    }

    assert COMPONENTS <= set(components.values()) <= COMPONENTS | OPTIONAL_COMPONENTS
    assert [r.name for r in run.resources if r.custom and r.parent_urn not in components] == []
    assert set(components) <= {r.parent_urn for r in run.resources if r.custom}


def test_web_acl_is_attached_exactly_when_waf_is_enabled(stack: tuple[dict[str, str], Run]) -> None:
    config, run = stack
    acls = run.of_type("aws:wafv2/webAcl:WebAcl")

    if setting(config, "wafEnabled") == "true":
        [acl] = acls
        assert acl.inputs["region"] == "us-east-1"
        assert distribution(run).inputs["webAclId"] == acl.outputs["arn"]
    else:
        assert acls == []
        assert [r for r in run.resources if "wafv2" in r.type or "firewall" in r.type] == []
        assert "webAclId" not in distribution(run).inputs


@pytest.mark.parametrize(("access", "internal"), [("publicAlb", False), ("vpcOrigin", True)])
def test_both_origin_access_modes_point_the_distribution_at_the_alb(
    access: str, internal: bool
) -> None:
    run = run_stack("dev", originAccess=access)
    alb = run.one("aws:lb/loadBalancer:LoadBalancer")
    [origin] = unwrap_secret(distribution(run).inputs["origins"])
    subnets = {s.outputs["id"]: s.name for s in run.of_type("aws:ec2/subnet:Subnet")}

    assert origin["domainName"] == alb.outputs["dnsName"]
    assert alb.inputs["internal"] is internal
    tier = "private" if internal else "public"
    assert all(subnets[i].startswith(f"network-{tier}-") for i in alb.inputs["subnets"])
    vpc_origins = run.of_type("aws:cloudfront/vpcOrigin:VpcOrigin")
    if internal:
        [vpc_origin] = vpc_origins
        assert vpc_origin.inputs["vpcOriginEndpointConfig"]["arn"] == alb.outputs["arn"]
        assert origin["vpcOriginConfig"]["vpcOriginId"] == vpc_origin.outputs["id"]
    else:
        assert vpc_origins == []
        assert origin["customOriginConfig"]["originProtocolPolicy"] == "http-only"


def test_access_logs_reach_the_log_bucket_exactly_when_enabled(
    stack: tuple[dict[str, str], Run],
) -> None:
    config, run = stack
    alb = run.one("aws:lb/loadBalancer:LoadBalancer")
    dist = distribution(run)

    if setting(config, "accessLogs") == "true":
        bucket = run.one("aws:s3/bucket:Bucket")
        delivery = run.one("aws:cloudwatch/logDelivery:LogDelivery")
        destination = run.one("aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination")
        # Writers check their access when configured: the policy and ownership come first.
        for prerequisite in ("logs-policy", "logs-ownership"):
            assert run.named(prerequisite).urn in alb.dependencies
            assert run.named(prerequisite).urn in destination.dependencies
        assert alb.inputs["accessLogs"] == {
            "bucket": bucket.outputs["bucket"],
            "prefix": "alb",
            "enabled": True,
        }
        # CloudFront's standard logs (v2), which need no bucket ACLs: no legacy logging.
        assert "loggingConfig" not in dist.inputs
        source = run.one("aws:cloudwatch/logDeliverySource:LogDeliverySource")
        assert source.inputs["resourceArn"] == dist.outputs["arn"]
        assert destination.inputs["deliveryDestinationConfiguration"] == {
            "destinationResourceArn": bucket.outputs["arn"]
        }
        assert delivery.inputs["deliverySourceName"] == source.outputs["name"]
        assert delivery.inputs["deliveryDestinationArn"] == destination.outputs["arn"]
        if setting(config, "flowLogs") == "true":
            flow_log = run.one("aws:ec2/flowLog:FlowLog")
            assert flow_log.inputs["vpcId"] == run.one("aws:ec2/vpc:Vpc").outputs["id"]
            assert flow_log.inputs["logDestinationType"] == "s3"
            assert flow_log.inputs["logDestination"] == f"{bucket.outputs['arn']}/vpc-flow-logs/"
            assert flow_log.inputs["trafficType"] == "ALL"
    else:
        assert run.of_type("aws:s3/bucket:Bucket") == []
        assert run.of_type("aws:ec2/flowLog:FlowLog") == []
        assert "accessLogs" not in alb.inputs
        assert "loggingConfig" not in dist.inputs
        assert run.of_type("aws:cloudwatch/logDelivery:LogDelivery") == []


def test_custom_domain_is_served_with_its_certificate_exactly_when_set(
    stack: tuple[dict[str, str], Run],
) -> None:
    config, run = stack
    dist = distribution(run)
    domain = setting(config, "domainName")
    dns_types = {
        "aws:acm/certificate:Certificate",
        "aws:acm/certificateValidation:CertificateValidation",
        "aws:route53/record:Record",
    }

    if not domain:
        assert [r for r in run.resources if r.type in dns_types] == []
        assert dist.inputs["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
        return
    certificate = run.one("aws:acm/certificate:Certificate")
    validation = run.one("aws:acm/certificateValidation:CertificateValidation")
    assert certificate.inputs["domainName"] == domain
    assert certificate.inputs["region"] == validation.inputs["region"] == "us-east-1"
    assert dist.inputs["aliases"] == [domain]
    assert validation.urn in dist.dependencies  # CloudFront refuses a certificate not yet issued
    assert dist.inputs["viewerCertificate"] == {
        "acmCertificateArn": validation.outputs["certificateArn"],
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    aliases = {
        r.inputs["type"]: r
        for r in run.of_type("aws:route53/record:Record")
        if "aliases" in r.inputs
    }
    assert set(aliases) == {"A", "AAAA"}
    for record in aliases.values():
        assert record.inputs["name"] == domain
        assert record.inputs["aliases"] == [
            {
                "name": dist.outputs["domainName"],
                "zoneId": dist.outputs["hostedZoneId"],
                "evaluateTargetHealth": False,
            }
        ]


def test_dev_and_prod_differ_where_their_stack_files_say() -> None:
    dev, prod = stack_config("dev"), stack_config("prod")

    differing = {key for key in STACK_KEYS if setting(dev, key) != setting(prod, key)}
    assert differing == set(STACK_KEYS)


def test_bad_config_stops_the_whole_program_before_any_resource() -> None:
    error, run = run_main_failing(with_overrides(stack_config("prod"), {"minSize": 10}))

    assert isinstance(error, SettingsError)
    assert error.problems == ["minSize (10) must be <= maxSize (9)"]
    assert run.resources == []


@pytest.mark.parametrize("stack_file", STACKS)
def test_internet_facing_alb_waits_for_the_internet_gateway_and_routes(stack_file: str) -> None:
    run = run_stack(stack_file)
    alb = run.one("aws:lb/loadBalancer:LoadBalancer")
    gateway = run.one("aws:ec2/internetGateway:InternetGateway")
    public_associations = [r for r in run.resources if "-public-rta-" in r.name]

    assert alb.inputs["internal"] is False
    assert gateway.urn in alb.dependencies  # created after it, destroyed before it
    assert public_associations
    assert {r.urn for r in public_associations} <= set(alb.dependencies)


@pytest.mark.parametrize("stack_file", STACKS)
def test_scaling_policy_waits_until_the_target_group_takes_traffic(stack_file: str) -> None:
    run = run_stack(stack_file)
    policy = run.one("aws:autoscaling/policy:Policy")
    forward_rule = run.one("aws:lb/listenerRule:ListenerRule")

    assert forward_rule.urn in policy.dependencies


@pytest.mark.parametrize("stack_file", STACKS)
def test_each_hop_outlasts_the_idle_connections_of_the_hop_in_front(stack_file: str) -> None:
    run = run_stack(stack_file)
    [origin] = unwrap_secret(distribution(run).inputs["origins"])
    alb = run.one("aws:lb/loadBalancer:LoadBalancer")

    keepalive = origin["customOriginConfig"]["originKeepaliveTimeout"]
    assert keepalive == 60  # the most CloudFront allows: warm connections for sparse traffic
    assert origin["customOriginConfig"]["originReadTimeout"] < alb.inputs["idleTimeout"]
    assert keepalive < alb.inputs["idleTimeout"] < IDLE_TIMEOUT_SECONDS


@pytest.mark.parametrize("stack_file", STACKS)
def test_rollouts_are_guarded_by_the_stacks_own_alarms(stack_file: str) -> None:
    run = run_stack(stack_file)
    preferences = run.one(ROLLOUT_TYPE).inputs["preferences"]
    alarms = {
        a.name: a.inputs["name"] for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    }

    assert preferences["AlarmSpecification"]["Alarms"] == [
        alarms["operations-target-5xx"],
        alarms["operations-unhealthy-hosts"],
    ]
    assert preferences["AutoRollback"] is True


@pytest.mark.parametrize("stack_file", STACKS)
def test_every_stack_gives_on_call_a_shell(stack_file: str) -> None:
    run = run_stack(stack_file)
    description = run.named("operations-unhealthy-hosts").inputs["alarmDescription"]

    assert run.of_type("aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint")
    assert "aws ec2-instance-connect ssh --instance-id <id> --connection-type eice" in description


ECR_REPOSITORY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/orders-api"
APP_STACK = {
    "instanceType": "t4g.micro",  # Docker needs 1 GiB
    "appImage": f"{ECR_REPOSITORY}:1.4.2",
    "appEnvironment": '["LOG_LEVEL=info"]',
    "appSecrets": '["DB_PASSWORD=ssm:/orders/db-password"]',
    "vpcEndpoints": '["ecr.api", "ecr.dkr", "ssm"]',
}


def test_secrets_are_fetched_by_name_on_the_instance() -> None:
    run = run_stack("dev", **APP_STACK)
    user_data = base64.b64decode(run.named("backend-lt").inputs["userData"]).decode()

    # Only the parameter's name travels; its value is read when the app starts.
    assert "/orders/db-password" in user_data
    assert "--with-decryption" in user_data


def dashboard_metrics(run: Run) -> list[tuple[str, str, dict[str, str], str]]:
    """Each graphed metric as (namespace, name, dimensions, widget region)."""
    body = json.loads(run.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    metrics = []
    for widget in body["widgets"]:
        for namespace, name, *rest in widget["properties"]["metrics"]:
            pairs = [item for item in rest if not isinstance(item, dict)]
            dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
            metrics.append((namespace, name, dimensions, widget["properties"]["region"]))
    return metrics


@pytest.mark.parametrize(("stack_file", "overrides"), MODES, ids=MODE_IDS)
def test_dashboard_graphs_exactly_this_stacks_resources(
    stack_file: str, overrides: dict[str, str]
) -> None:
    run = run_stack(stack_file, **overrides)
    expected = {
        "DistributionId": distribution(run).outputs["id"],
        "Region": "Global",
        "LoadBalancer": run.one("aws:lb/loadBalancer:LoadBalancer").outputs["arnSuffix"],
        "TargetGroup": run.one("aws:lb/targetGroup:TargetGroup").outputs["arnSuffix"],
        "AutoScalingGroupName": run.one("aws:autoscaling/group:Group").outputs["name"],
    }
    stack_region = stack_config(stack_file)["aws:region"]
    metrics = dashboard_metrics(run)
    names = {name for _, name, _, _ in metrics}

    for namespace, name, dimensions, region in metrics:
        assert dimensions, name
        assert all(expected[key] == value for key, value in dimensions.items()), name
        assert region == ("us-east-1" if namespace == "AWS/CloudFront" else stack_region)
    assert {
        "Requests",
        "4xxErrorRate",
        "5xxErrorRate",
        "RequestCount",
        "TargetResponseTime",
        "HTTPCode_Target_5XX_Count",
        "HealthyHostCount",
        "UnHealthyHostCount",
        "GroupInServiceInstances",
        "GroupDesiredCapacity",
        "CPUUtilization",
        "CPUCreditBalance",  # every test stack runs burstable t4g in standard mode
    } <= names


@pytest.mark.parametrize("stack_file", STACKS)
def test_every_alarm_links_the_dashboard(stack_file: str) -> None:
    run = run_stack(stack_file)
    url = run.exports["dashboardUrl"]

    for alarm in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        assert alarm.inputs["alarmDescription"].endswith(f"Dashboard: {url}"), alarm.name


@pytest.mark.parametrize(
    ("instance_type", "credits", "metric"),
    [
        ("t4g.nano", "standard", "CPUCreditBalance"),
        ("t3.small", "unlimited", "CPUSurplusCreditsCharged"),
        ("m7g.large", "unlimited", None),  # not burstable: no credits at all
    ],
)
def test_burstable_credit_mode_is_explicit_and_watched(
    instance_type: str, credits: str, metric: str | None
) -> None:
    run = run_stack("dev", instanceType=instance_type, cpuCredits=credits)
    template = run.named("backend-lt").inputs
    alarm = [a for a in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if "cpu" in a.name]

    if metric is None:
        assert "creditSpecification" not in template
        assert alarm == []
    else:
        assert template["creditSpecification"] == {"cpuCredits": credits}
        [credit_alarm] = alarm
        assert credit_alarm.inputs["metricName"] == metric
        assert credit_alarm.inputs["dimensions"] == {
            "AutoScalingGroupName": run.one("aws:autoscaling/group:Group").outputs["name"]
        }
