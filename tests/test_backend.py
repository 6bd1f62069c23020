"""LoadBalancedBackend: ALB, target group, security groups, launch template and Auto Scaling
group, asserted as AWS receives them."""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.alb_origin import OriginAccess
from components.backend import BackendSettings, LoadBalancedBackend, LoadBalancedBackendArgs
from components.backend.app_source import (
    AppSource,
    ContainerImage,
    SecretReference,
    SecretStore,
)
from tests.harness import (
    CLOUDFRONT_PREFIX_LIST_ID,
    IMAGE_PARAMETER_AMIS,
    MACHINE_IMAGE_TYPE,
    PREFIX_LIST_TOKEN,
    RANDOM_PASSWORD,
    ROLLOUT_TYPE,
    Resource,
    Run,
    run_pulumi,
    unwrap_secret,
)

APP_DIR = Path(__file__).resolve().parent.parent / "components" / "backend" / "app"
SETTINGS = BackendSettings(
    instance_type="t4g.micro",
    architecture="arm64",
    min_size=2,
    max_size=6,
    desired_capacity=3,
    app_port=8080,
    health_check_path="/health",
    deletion_protection=False,
    origin_access=OriginAccess.PUBLIC_ALB,
    scaling_target_requests=1000,
    instance_tags={"Project": "cdn-alb-backend", "Environment": "test"},
)
PUBLIC_SUBNETS = ["subnet-public-a", "subnet-public-b"]
PRIVATE_SUBNETS = ["subnet-private-a", "subnet-private-b"]
OUTPUTS = (
    "alb_dns_name",
    "alb_arn",
    "alb_zone_id",
    "target_group_arn",
    "listener_arn",
    "alb_security_group_id",
    "asg_name",
)


def build(**changes: Any) -> Run:
    if "app" in changes:  # an app's environment is a dict: not a cache key
        return _run(dataclasses.replace(SETTINGS, **changes))
    return _build(tuple(sorted(changes.items())))


@functools.cache  # a run is deterministic and tests only read it
def _build(changes: tuple[tuple[str, Any], ...]) -> Run:
    return _run(dataclasses.replace(SETTINGS, **dict(changes)))


def _run(settings: BackendSettings) -> Run:

    def program() -> None:
        backend = LoadBalancedBackend(
            "backend",
            LoadBalancedBackendArgs(
                settings=settings,
                vpc_id="vpc-0123",
                public_subnet_ids=PUBLIC_SUBNETS,
                private_subnet_ids=PRIVATE_SUBNETS,
            ),
        )
        for output in OUTPUTS:
            pulumi.export(output, getattr(backend, output))

    return run_pulumi(program, {})


@pytest.fixture(scope="module")
def run() -> Run:
    return build()


def rules_of(run: Run, group: Resource, kind: str) -> list[Resource]:
    rule_type = f"aws:vpc/securityGroup{kind}Rule:SecurityGroup{kind}Rule"
    return [r for r in run.of_type(rule_type) if r.inputs["securityGroupId"] == group.outputs["id"]]


# ------------------------------------------------------------------------- load balancer
def test_alb_is_internet_facing_in_every_public_subnet(run: Run) -> None:
    alb = run.one("aws:lb/loadBalancer:LoadBalancer")

    assert alb.inputs["loadBalancerType"] == "application"
    assert alb.inputs["internal"] is False
    assert alb.inputs["ipAddressType"] == "ipv4"
    assert alb.inputs["subnets"] == PUBLIC_SUBNETS
    assert alb.inputs["securityGroups"] == [run.named("backend-alb-sg").outputs["id"]]


def test_alb_drops_invalid_headers_and_mitigates_desync(run: Run) -> None:
    alb = run.one("aws:lb/loadBalancer:LoadBalancer")

    assert alb.inputs["dropInvalidHeaderFields"] is True
    assert alb.inputs["desyncMitigationMode"] in ("defensive", "strictest")


def test_internal_alb_sits_in_the_private_subnets() -> None:
    alb = build(origin_access=OriginAccess.VPC_ORIGIN).one("aws:lb/loadBalancer:LoadBalancer")

    assert alb.inputs["internal"] is True
    assert alb.inputs["subnets"] == PRIVATE_SUBNETS


@pytest.mark.parametrize("protected", [False, True])
def test_alb_deletion_protection_follows_the_setting(protected: bool) -> None:
    alb = build(deletion_protection=protected).one("aws:lb/loadBalancer:LoadBalancer")

    assert alb.inputs["enableDeletionProtection"] is protected


def test_http_listener_on_port_80_refuses_requests_by_default(run: Run) -> None:
    listener = run.one("aws:lb/listener:Listener")

    assert (
        listener.inputs["loadBalancerArn"]
        == run.one("aws:lb/loadBalancer:LoadBalancer").outputs["arn"]
    )
    assert listener.inputs["protocol"] == "HTTP"
    assert listener.inputs["port"] == 80
    assert listener.inputs["defaultActions"] == [
        {
            "type": "fixed-response",
            "fixedResponse": {
                "contentType": "text/plain",
                "statusCode": "403",
                "messageBody": "Forbidden",
            },
        }
    ]


def test_only_requests_carrying_the_origin_secret_reach_the_targets(run: Run) -> None:
    rule = run.one("aws:lb/listenerRule:ListenerRule")
    secret = run.one("random:index/randomPassword:RandomPassword")

    assert rule.inputs["listenerArn"] == run.one("aws:lb/listener:Listener").outputs["arn"]
    assert rule.inputs["priority"] == 1
    [condition] = unwrap_secret(rule.inputs["conditions"])  # the state stores it encrypted
    assert condition == {
        "httpHeader": {"httpHeaderName": "X-Origin-Verify", "values": [secret.outputs["result"]]}
    }
    assert rule.inputs["actions"] == [
        {
            "type": "forward",
            "targetGroupArn": run.one("aws:lb/targetGroup:TargetGroup").outputs["arn"],
        }
    ]


def test_a_rotation_accepts_the_new_secret_and_the_previous_one() -> None:
    run = build(origin_secret_version=3)
    secrets = {r.name: r.outputs["result"] for r in run.of_type(RANDOM_PASSWORD)}
    [condition] = unwrap_secret(run.one("aws:lb/listenerRule:ListenerRule").inputs["conditions"])

    # Version 1 kept the name it had before versions; 3 and 2 are live, 1 is gone.
    assert sorted(secrets) == ["backend-origin-secret-v2", "backend-origin-secret-v3"]
    assert condition["httpHeader"]["values"] == [
        secrets["backend-origin-secret-v3"],
        secrets["backend-origin-secret-v2"],
    ]


def test_origin_secret_is_random_long_and_wildcard_free(run: Run) -> None:
    secret = run.one("random:index/randomPassword:RandomPassword")

    assert secret.inputs["length"] == 32
    assert secret.inputs["special"] is False  # * and ? are wildcards in ALB header conditions


def test_origin_secret_is_handed_on_as_a_secret() -> None:
    shared: list[tuple[str, object]] = []

    def program() -> None:
        backend = LoadBalancedBackend(
            "backend",
            LoadBalancedBackendArgs(
                settings=SETTINGS,
                vpc_id="vpc-0123",
                public_subnet_ids=PUBLIC_SUBNETS,
                private_subnet_ids=PRIVATE_SUBNETS,
            ),
        )
        header = backend.origin.header
        value = pulumi.Output.from_input(header.value)
        pulumi.Output.all(value.is_secret(), value).apply(
            lambda results: shared.append((header.name, results[0]))
        )

    run_pulumi(program, {})

    assert shared == [("X-Origin-Verify", True)]


def test_target_group_checks_health_on_the_app_port(run: Run) -> None:
    target_group = run.one("aws:lb/targetGroup:TargetGroup")

    assert target_group.inputs["vpcId"] == "vpc-0123"
    assert target_group.inputs["targetType"] == "instance"
    assert target_group.inputs["protocol"] == "HTTP"
    assert target_group.inputs["port"] == 8080
    assert target_group.inputs["deregistrationDelay"] == 30
    assert target_group.inputs["healthCheck"] == {
        "enabled": True,
        "protocol": "HTTP",
        "port": "traffic-port",
        "path": "/health",
        "matcher": "200",
        "interval": 15,
        "timeout": 5,
        "healthyThreshold": 2,
        "unhealthyThreshold": 3,
    }


def test_custom_port_and_health_path_reach_the_target_group() -> None:
    target_group = build(app_port=9000, health_check_path="/ready").one(
        "aws:lb/targetGroup:TargetGroup"
    )

    assert target_group.inputs["port"] == 9000
    assert target_group.inputs["healthCheck"]["path"] == "/ready"


# ---------------------------------------------------------------------- security groups
def test_alb_admits_only_cloudfront_on_port_80(run: Run) -> None:
    alb_group = run.named("backend-alb-sg")

    [ingress] = rules_of(run, alb_group, "Ingress")
    assert ingress.inputs == {
        "securityGroupId": alb_group.outputs["id"],
        "description": "HTTP from CloudFront origin-facing servers",
        "ipProtocol": "tcp",
        "fromPort": 80,
        "toPort": 80,
        "prefixListId": CLOUDFRONT_PREFIX_LIST_ID,
    }
    lookups = [i for i in run.invokes if i.token == PREFIX_LIST_TOKEN]
    assert [i.args for i in lookups] == [{"name": "com.amazonaws.global.cloudfront.origin-facing"}]


def test_alb_sends_only_to_the_instances_on_the_app_port(run: Run) -> None:
    alb_group, instance_group = run.named("backend-alb-sg"), run.named("backend-instance-sg")

    [egress] = rules_of(run, alb_group, "Egress")
    assert egress.inputs["referencedSecurityGroupId"] == instance_group.outputs["id"]
    assert (egress.inputs["ipProtocol"], egress.inputs["fromPort"], egress.inputs["toPort"]) == (
        "tcp",
        8080,
        8080,
    )
    assert "cidrIpv4" not in egress.inputs


def test_instances_admit_only_the_alb_on_the_app_port(run: Run) -> None:
    alb_group, instance_group = run.named("backend-alb-sg"), run.named("backend-instance-sg")

    [ingress] = rules_of(run, instance_group, "Ingress")
    assert ingress.inputs["referencedSecurityGroupId"] == alb_group.outputs["id"]
    assert (ingress.inputs["ipProtocol"], ingress.inputs["fromPort"], ingress.inputs["toPort"]) == (
        "tcp",
        8080,
        8080,
    )


def test_nothing_is_open_to_the_world_inbound_and_no_ssh(run: Run) -> None:
    ingress = run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")

    assert len(ingress) == 2
    for rule in ingress:
        assert rule.inputs.get("cidrIpv4") in (None, "")
        assert rule.inputs.get("cidrIpv6") in (None, "")
        assert not rule.inputs["fromPort"] <= 22 <= rule.inputs["toPort"]
    alb_group = run.named("backend-alb-sg")
    for rule in rules_of(run, alb_group, "Ingress") + rules_of(run, alb_group, "Egress"):
        assert rule.inputs.get("cidrIpv4") != "0.0.0.0/0"
        assert rule.inputs.get("cidrIpv6") != "::/0"


def test_security_groups_carry_no_inline_rules(run: Run) -> None:
    for group in run.of_type("aws:ec2/securityGroup:SecurityGroup"):
        assert group.inputs["vpcId"] == "vpc-0123"
        assert "ingress" not in group.inputs
        assert "egress" not in group.inputs


# ----------------------------------------------------------------------- launch template
@pytest.mark.parametrize(
    ("instance_type", "architecture", "parameter"),
    [
        (
            "t4g.micro",
            "arm64",
            "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
        ),
        (
            "t3.micro",
            "x86_64",
            "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        ),
    ],
)
def test_image_matches_the_instance_architecture(
    instance_type: str, architecture: str, parameter: str
) -> None:
    template = build(instance_type=instance_type, architecture=architecture).one(
        "aws:ec2/launchTemplate:LaunchTemplate"
    )

    image = build(instance_type=instance_type, architecture=architecture).one(MACHINE_IMAGE_TYPE)

    assert template.inputs["instanceType"] == instance_type
    # A concrete AMI (an instance refresh cannot roll back a `resolve:ssm:` image), resolved
    # from Amazon Linux's parameter for the type's architecture at deploy time.
    assert template.inputs["imageId"] == IMAGE_PARAMETER_AMIS[parameter]
    assert image.inputs["parameters"][architecture] == parameter


def test_instances_require_imdsv2(run: Run) -> None:
    template = run.one("aws:ec2/launchTemplate:LaunchTemplate")

    assert template.inputs["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
    }


def test_root_volume_is_encrypted_gp3(run: Run) -> None:
    template = run.one("aws:ec2/launchTemplate:LaunchTemplate")

    assert template.inputs["blockDeviceMappings"] == [
        {
            "deviceName": "/dev/xvda",
            "ebs": {"volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"},
        }
    ]


def test_instances_get_no_public_ip_and_only_their_security_group(run: Run) -> None:
    template = run.one("aws:ec2/launchTemplate:LaunchTemplate")

    assert template.inputs["networkInterfaces"] == [
        {
            "deviceIndex": 0,
            "associatePublicIpAddress": "false",
            "securityGroups": [run.named("backend-instance-sg").outputs["id"]],
            "deleteOnTermination": "true",
        }
    ]
    assert "vpcSecurityGroupIds" not in template.inputs


def test_instances_and_volumes_are_tagged(run: Run) -> None:
    template = run.one("aws:ec2/launchTemplate:LaunchTemplate")

    expected = {"Project": "cdn-alb-backend", "Environment": "test", "Name": "backend-instance"}
    assert template.inputs["tagSpecifications"] == [
        {"resourceType": kind, "tags": expected}
        for kind in ("instance", "volume", "network-interface")
    ]


def test_instance_role_has_no_managed_policy(run: Run) -> None:
    role = run.one("aws:iam/role:Role")
    profile = run.one("aws:iam/instanceProfile:InstanceProfile")
    template = run.one("aws:ec2/launchTemplate:LaunchTemplate")

    assert json.loads(role.inputs["assumeRolePolicy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    # No managed policy: AmazonSSMManagedInstanceCore alone reads every SSM parameter.
    assert run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []
    assert "permissionsBoundary" not in role.inputs
    assert run.of_type("aws:iam/rolePolicy:RolePolicy") == []
    assert profile.inputs["role"] == role.outputs["name"]
    assert template.inputs["iamInstanceProfile"] == {"arn": profile.outputs["arn"]}


# ---------------------------------------------------------------------------- user data
def cloud_config(template: Resource) -> dict[str, Any]:
    text = base64.b64decode(template.inputs["userData"], validate=True).decode()
    assert text.startswith("#cloud-config\n")
    return yaml.safe_load(text)


def test_user_data_installs_the_service_file_verbatim(run: Run) -> None:
    config = cloud_config(run.one("aws:ec2/launchTemplate:LaunchTemplate"))

    files = {f["path"]: f for f in config["write_files"]}
    assert files["/opt/backend/server.py"]["content"] == (APP_DIR / "server.py").read_text()
    assert files["/opt/backend/server.py"]["permissions"] == "0755"


def test_user_data_runs_the_service_under_systemd(run: Run) -> None:
    config = cloud_config(run.one("aws:ec2/launchTemplate:LaunchTemplate"))

    unit = {f["path"]: f for f in config["write_files"]}["/etc/systemd/system/backend.service"][
        "content"
    ]
    lines = unit.splitlines()
    assert (
        "ExecStart=/usr/bin/python3 /opt/backend/server.py --port 8080 --health-path /health"
        in lines
    )
    assert "DynamicUser=yes" in lines  # an unprivileged, throwaway user
    assert "Restart=on-failure" in lines
    assert "WantedBy=multi-user.target" in lines
    assert config["runcmd"] == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "backend.service"],
    ]


def test_user_data_downloads_nothing_at_boot(run: Run) -> None:
    config = cloud_config(run.one("aws:ec2/launchTemplate:LaunchTemplate"))

    assert config["package_update"] is False
    assert config["package_upgrade"] is False
    assert "packages" not in config


def test_user_data_fits_the_ec2_limit(run: Run) -> None:
    raw = base64.b64decode(run.one("aws:ec2/launchTemplate:LaunchTemplate").inputs["userData"])

    assert len(raw) <= 16 * 1024


def test_user_data_follows_port_and_health_path() -> None:
    config = cloud_config(
        build(app_port=9000, health_check_path="/ready").one(
            "aws:ec2/launchTemplate:LaunchTemplate"
        )
    )

    unit = {f["path"]: f for f in config["write_files"]}["/etc/systemd/system/backend.service"][
        "content"
    ]
    assert "--port 9000 --health-path /ready" in unit


# -------------------------------------------------------------------- auto scaling group
def test_group_runs_in_the_private_subnets_with_the_configured_sizes(run: Run) -> None:
    group = run.one("aws:autoscaling/group:Group")

    assert group.inputs["vpcZoneIdentifiers"] == PRIVATE_SUBNETS
    assert (group.inputs["minSize"], group.inputs["desiredCapacity"], group.inputs["maxSize"]) == (
        2,
        3,
        6,
    )
    assert group.inputs["targetGroupArns"] == [
        run.one("aws:lb/targetGroup:TargetGroup").outputs["arn"]
    ]


def test_scaling_policy_owns_the_capacity_after_creation(run: Run) -> None:
    group = run.one("aws:autoscaling/group:Group")

    assert group.ignore_changes == ("desiredCapacity", "launchTemplate")
    # No capacity wait: on an update, the provider waits for exactly max(minSize, the last
    # desiredCapacity it sent) healthy instances, which the policy may have moved since.
    assert group.inputs["waitForCapacityTimeout"] == "0"


def test_group_publishes_its_capacity_metrics(run: Run) -> None:
    group = run.one("aws:autoscaling/group:Group")

    assert group.inputs["enabledMetrics"] == [
        "GroupDesiredCapacity",
        "GroupInServiceInstances",
        "GroupPendingInstances",
        "GroupTerminatingInstances",
    ]


def test_group_replaces_instances_the_load_balancer_finds_unhealthy(run: Run) -> None:
    group = run.one("aws:autoscaling/group:Group")

    assert group.inputs["healthCheckType"] == "ELB"
    assert group.inputs["healthCheckGracePeriod"] >= 180


def test_group_starts_on_the_templates_version_and_leaves_the_next_to_the_rollout(
    run: Run,
) -> None:
    group = run.one("aws:autoscaling/group:Group")
    template = run.one("aws:ec2/launchTemplate:LaunchTemplate")
    rollout = run.one(ROLLOUT_TYPE)

    assert group.inputs["launchTemplate"] == {
        "id": template.outputs["id"],
        "version": str(template.outputs["latestVersion"]),
    }
    # The provider would update the group to the new version before refreshing (so a
    # rollback would return to the new version): the group has no refresh of its own.
    assert "instanceRefresh" not in group.inputs
    assert "launchTemplate" in group.ignore_changes
    assert rollout.inputs["group_name"] == group.outputs["name"]
    assert rollout.inputs["launch_template_id"] == template.outputs["id"]
    assert rollout.inputs["launch_template_version"] == template.outputs["latestVersion"]
    assert rollout.inputs["region"] == SETTINGS.region


# ------------------------------------------------------------------------------ outputs
def test_outputs_expose_what_the_other_components_need(run: Run) -> None:
    alb = run.one("aws:lb/loadBalancer:LoadBalancer")

    assert run.exports == {
        "alb_dns_name": alb.outputs["dnsName"],
        "alb_arn": alb.outputs["arn"],
        "alb_zone_id": alb.outputs["zoneId"],
        "target_group_arn": run.one("aws:lb/targetGroup:TargetGroup").outputs["arn"],
        "listener_arn": run.one("aws:lb/listener:Listener").outputs["arn"],
        "alb_security_group_id": run.named("backend-alb-sg").outputs["id"],
        "asg_name": run.one("aws:autoscaling/group:Group").outputs["name"],
    }


def test_group_scales_on_requests_per_instance(run: Run) -> None:
    policy = run.one("aws:autoscaling/policy:Policy")
    alb = run.one("aws:lb/loadBalancer:LoadBalancer")
    target_group = run.one("aws:lb/targetGroup:TargetGroup")

    assert (
        policy.inputs["autoscalingGroupName"]
        == run.one("aws:autoscaling/group:Group").outputs["name"]
    )
    assert policy.inputs["policyType"] == "TargetTrackingScaling"
    assert policy.inputs["targetTrackingConfiguration"] == {
        "predefinedMetricSpecification": {
            "predefinedMetricType": "ALBRequestCountPerTarget",
            "resourceLabel": f"{alb.outputs['arnSuffix']}/{target_group.outputs['arnSuffix']}",
        },
        "targetValue": 1000,
    }
    # AWS refuses the policy until the rule attaches the target group to the ALB.
    assert run.one("aws:lb/listenerRule:ListenerRule").urn in policy.dependencies
    # It moved here from the Operations component; the alias keeps existing stacks' policy.
    assert policy.aliases == ("operations-requests-per-instance",)


def test_backend_opens_its_alb_group_to_the_vpc_origin_peer() -> None:
    def program() -> None:
        backend = LoadBalancedBackend(
            "backend",
            LoadBalancedBackendArgs(
                settings=dataclasses.replace(SETTINGS, origin_access=OriginAccess.VPC_ORIGIN),
                vpc_id="vpc-0123",
                public_subnet_ids=PUBLIC_SUBNETS,
                private_subnet_ids=PRIVATE_SUBNETS,
            ),
        )
        assert backend.origin.vpc_origin is not None
        backend.origin.vpc_origin.admit("sg-cloudfront-vpc-origins", pulumi.ResourceOptions())

    run = run_pulumi(program, {})
    rule = run.named("backend-alb-from-vpc-origin")

    assert rule.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    assert rule.inputs["securityGroupId"] == run.named("backend-alb-sg").outputs["id"]
    assert rule.inputs["referencedSecurityGroupId"] == "sg-cloudfront-vpc-origins"
    assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == (
        "tcp",
        80,
        80,
    )
    assert rule.parent_urn == run.one("cdn-alb-backend:backend:LoadBalancedBackend").urn


def test_internet_facing_backend_offers_no_vpc_origin() -> None:
    def program() -> None:
        backend = LoadBalancedBackend(
            "backend",
            LoadBalancedBackendArgs(
                settings=SETTINGS,
                vpc_id="vpc-0123",
                public_subnet_ids=PUBLIC_SUBNETS,
                private_subnet_ids=PRIVATE_SUBNETS,
            ),
        )
        origins.append(backend.origin.vpc_origin)

    origins: list[object] = []
    run_pulumi(program, {})

    assert origins == [None]


# ------------------------------------------------------------------- your own app, rollouts
ECR_APP = AppSource(
    image=ContainerImage("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/orders:1.4.2"),
    secrets=(
        SecretReference("DB_PASSWORD", SecretStore.SSM_PARAMETER, "/orders/db-password"),
        SecretReference(
            "API_KEY",
            SecretStore.SECRETS_MANAGER,
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/api-key-AbCdEf",
        ),
    ),
)


def app_policy(run: Run) -> dict[str, Any]:
    return json.loads(run.named("backend-instance-app").inputs["policy"])


def test_the_built_in_service_reads_nothing_of_the_apps(run: Run) -> None:
    assert [r.name for r in run.of_type("aws:iam/rolePolicy:RolePolicy")] == []


def test_instance_role_reads_exactly_the_apps_image_and_secrets() -> None:
    run = build(app=ECR_APP, region="us-east-1")
    role = run.one("aws:iam/role:Role")

    assert run.named("backend-instance-app").inputs["role"] == role.outputs["id"]
    assert app_policy(run)["Statement"] == [
        {
            "Sid": "PullAppImage",
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ],
            "Resource": "arn:aws:ecr:us-east-1:123456789012:repository/team/orders",
        },
        {
            "Sid": "GetRegistryToken",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        },
        {
            "Sid": "ReadAppParameters",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": ["arn:aws:ssm:us-east-1:123456789012:parameter/orders/db-password"],
        },
        {
            "Sid": "ReadAppSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": [
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/api-key-AbCdEf"
            ],
        },
    ]


def test_a_machine_image_replaces_amazon_linux() -> None:
    app = AppSource(machine_image="resolve:ssm:/orders/ami/latest")
    run = build(app=app)
    template = run.one("aws:ec2/launchTemplate:LaunchTemplate")

    # The parameter's AMI, resolved at the first deploy and kept.
    assert run.one(MACHINE_IMAGE_TYPE).inputs["parameters"] == {"arm64": "/orders/ami/latest"}
    assert template.inputs["imageId"] == "ami-0fedcba9876543210"


@pytest.mark.parametrize("root_device", ["/dev/xvda", "/dev/sda1"])
def test_the_root_volume_settings_apply_to_the_images_own_root_device(root_device: str) -> None:
    """Ubuntu and RHEL images boot from /dev/sda1: a mapping for /dev/xvda would add an empty
    volume and leave the root volume neither gp3 nor encrypted."""
    app = AppSource(machine_image="ami-0123456789abcdef0")
    run = build(app=app, machine_image_root_device=root_device)
    template = run.one("aws:ec2/launchTemplate:LaunchTemplate")

    assert template.inputs["imageId"] == "ami-0123456789abcdef0"
    assert [m["deviceName"] for m in template.inputs["blockDeviceMappings"]] == [root_device]
    assert run.of_type(MACHINE_IMAGE_TYPE) == []


def test_rollouts_keep_capacity_skip_current_instances_and_roll_back_on_alarms() -> None:
    def program() -> None:
        LoadBalancedBackend(
            "backend",
            LoadBalancedBackendArgs(
                settings=dataclasses.replace(SETTINGS, rollout_checkpoints=(25, 100)),
                vpc_id="vpc-0123",
                public_subnet_ids=PUBLIC_SUBNETS,
                private_subnet_ids=PRIVATE_SUBNETS,
                rollout_alarm_names=["stack-target-5xx", "stack-unhealthy-hosts"],
            ),
        )

    rollout = run_pulumi(program, {}).one(ROLLOUT_TYPE)

    # StartInstanceRefresh's Preferences, as AWS receives them (tests/test_rollout.py).
    assert rollout.inputs["preferences"] == {
        "MinHealthyPercentage": 100,
        "MaxHealthyPercentage": 200,
        "InstanceWarmup": 300,
        "SkipMatching": True,
        "AutoRollback": True,
        "AlarmSpecification": {"Alarms": ["stack-target-5xx", "stack-unhealthy-hosts"]},
        "CheckpointPercentages": [25, 100],
        "CheckpointDelay": 600,
    }
    # `pulumi up` waits through both checkpoints' delays on top of the replacement itself.
    assert rollout.inputs["timeout_seconds"] == 3600 + 2 * 600


def test_without_checkpoints_a_rollout_is_one_rolling_pass(run: Run) -> None:
    preferences = run.one(ROLLOUT_TYPE).inputs["preferences"]

    assert "CheckpointPercentages" not in preferences
    assert "CheckpointDelay" not in preferences
    assert preferences["AutoRollback"] is True


def test_instance_connect_endpoint_is_the_only_ssh_source() -> None:
    run = build(instance_connect=True)
    endpoint = run.one("aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint")
    endpoint_group = run.named("backend-eice-sg")
    instances = run.named("backend-instance-sg")
    ssh_in = run.named("backend-instances-from-eice")
    ssh_out = run.named("backend-eice-to-instances")

    assert endpoint.inputs["subnetId"] == PRIVATE_SUBNETS[0]
    assert endpoint.inputs["securityGroupIds"] == [endpoint_group.outputs["id"]]
    assert endpoint.inputs["preserveClientIp"] is False
    assert (ssh_in.inputs["securityGroupId"], ssh_in.inputs["referencedSecurityGroupId"]) == (
        instances.outputs["id"],
        endpoint_group.outputs["id"],
    )
    assert (ssh_out.inputs["securityGroupId"], ssh_out.inputs["referencedSecurityGroupId"]) == (
        endpoint_group.outputs["id"],
        instances.outputs["id"],
    )
    for rule in (ssh_in, ssh_out):
        assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == (
            "tcp",
            22,
            22,
        )


def test_no_ssh_path_without_instance_connect(run: Run) -> None:
    eice = "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint"
    assert run.of_type(eice) == []
    assert [r for r in run.resources if r.inputs.get("fromPort") == 22] == []


def test_a_named_boundary_caps_the_instance_role() -> None:
    """The CI deploy role may create the role only under the boundary bootstrap/ owns."""
    run = build(instance_role_boundary="cdn-alb-backend-instance-boundary")
    role = run.one("aws:iam/role:Role")

    assert role.inputs["permissionsBoundary"] == (
        "arn:aws:iam::123456789012:policy/cdn-alb-backend-instance-boundary"
    )
