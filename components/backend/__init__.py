"""LoadBalancedBackend: an ALB in front of a self-healing Auto Scaling group.

The ALB is internet-facing (the walkthrough's design) or internal, behind a CloudFront VPC
origin; the backend hands the front door that choice as one `AlbOrigin`. The ALB admits only
CloudFront (its origin-facing managed prefix list), forwards only requests carrying the
distribution's secret header, and the instances admit only the ALB. Instances run in private
subnets without public IPs, boot Amazon Linux 2023 for their CPU architecture, scale on
requests per instance, and are replaced through an instance refresh whenever the launch
template changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components import component_types
from components.alb_origin import AlbOrigin, OriginAccess, OriginHeader, VpcOriginTarget
from components.backend.app_access import app_read_policy, reads_anything
from components.backend.app_source import AppSource, image_parameter
from components.backend.rollout import (
    MachineImage,
    MachineImageArgs,
    Rollout,
    RolloutArgs,
    RolloutPreferences,
)
from components.backend.user_data import user_data
from components.dashboard import CpuCredits
from components.log_bucket import ALB_LOG_PREFIX
from components.security_group_rules import allow_tcp

# CPU architectures with an Amazon Linux 2023 image, in order of preference.
SUPPORTED_ARCHITECTURES = ("arm64", "x86_64")
# Public SSM parameters naming the latest Amazon Linux 2023 image per architecture. The AMI they
# name is resolved once at deploy time and kept (rollout.MachineImage): the template names a
# concrete AMI, as an instance refresh that can roll back requires.
AL2023_IMAGE_PARAMETERS = {
    "arm64": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
    "x86_64": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
}
# The managed prefix list of CloudFront's origin-facing servers. It counts as ~55 rules against
# the security group's rule quota (60 by default), so the ALB's group holds nothing else inbound.
CLOUDFRONT_ORIGIN_FACING_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"
HTTP_PORT = 80
SSH_PORT = 22
# Any CloudFront distribution, anyone's, comes from the prefix list above. The ALB therefore
# forwards only requests that carry this header with a value only our distribution knows, and
# answers everything else with 403.
ORIGIN_VERIFY_HEADER = "X-Origin-Verify"
ORIGIN_SECRET_LENGTH = 32  # ALB header conditions take values of up to 128 characters

HEALTH_CHECK_INTERVAL_SECONDS = 15
HEALTH_CHECK_TIMEOUT_SECONDS = 5
HEALTHY_THRESHOLD = 2
UNHEALTHY_THRESHOLD = 3
# Each hop keeps idle connections open longer than the hop in front of it, so the one that
# closes an idle connection is always the caller: CloudFront's origin keep-alive (60 s) < the
# ALB's idle timeout < the service's (75 s). A target closing first makes the ALB answer 502.
ALB_IDLE_TIMEOUT_SECONDS = 65
DEREGISTRATION_DELAY_SECONDS = 30  # requests are short; don't hold a rollout for the default 300
# Boot, cloud-init and two passing health checks take about two minutes; leave room.
HEALTH_CHECK_GRACE_SECONDS = 300
# At a rollout checkpoint: long enough for the 5-minute target-5xx alarm to see the new version.
CHECKPOINT_DELAY_SECONDS = 600
# How long `pulumi up` waits for a rollout: replacing every instance takes a warm-up or two per
# batch; each checkpoint adds its delay. Past it, `pulumi up` fails and the refresh goes on.
ROLLOUT_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class BackendSettings:
    instance_type: str
    architecture: str  # one of SUPPORTED_ARCHITECTURES, as EC2 reports it for instance_type
    min_size: int
    max_size: int
    desired_capacity: int
    app_port: int
    health_check_path: str
    deletion_protection: bool
    origin_access: OriginAccess  # VPC_ORIGIN: an internal ALB, in the private subnets
    scaling_target_requests: int  # ALB requests per instance per minute the group aims for
    instance_tags: Mapping[str, str]  # the stack's default tags, copied onto instances/volumes
    app: AppSource = field(default_factory=AppSource)  # the built-in service by default
    region: str = ""  # the stack's region, where the app's SSM parameters live
    rollout_checkpoints: tuple[int, ...] = ()  # percentages at which a rollout pauses
    instance_connect: bool = False  # an EC2 Instance Connect Endpoint for on-call shells
    cpu_credits: CpuCredits | None = None  # burstable types' credit mode; None: not burstable
    # A literal machineImage's root device, read from the image; "" for an SSM-named image,
    # whose root device is read when the image is resolved at deploy time.
    machine_image_root_device: str = ""
    aws_profile: str | None = None  # aws:profile, for the rollout's own AWS calls
    instance_role_boundary: str = ""  # a managed policy's name; "": no permissions boundary
    origin_secret_version: int = 1  # a new number rotates the origin secret

    @property
    def internal_alb(self) -> bool:
        return self.origin_access is OriginAccess.VPC_ORIGIN


@dataclass(frozen=True)
class LoadBalancedBackendArgs:
    settings: BackendSettings
    vpc_id: pulumi.Input[str]
    public_subnet_ids: Sequence[pulumi.Input[str]]  # the ALB's unless internal, one per zone
    private_subnet_ids: Sequence[pulumi.Input[str]]  # the instances', one per zone
    access_log_bucket: pulumi.Input[str] | None = None  # None: no ALB access logs
    # Alarms that roll a rollout back when they fire (the stack's target-5xx and unhealthy-host
    # alarms, by name: they watch this backend, so they cannot exist before it).
    rollout_alarm_names: Sequence[str] = ()


class LoadBalancedBackend(pulumi.ComponentResource):
    origin: AlbOrigin  # what the CDN front door needs to reach the ALB
    alb_dns_name: pulumi.Output[str]
    alb_arn: pulumi.Output[str]
    alb_arn_suffix: pulumi.Output[str]
    alb_zone_id: pulumi.Output[str]
    target_group_arn: pulumi.Output[str]
    target_group_arn_suffix: pulumi.Output[str]
    listener_arn: pulumi.Output[str]
    alb_security_group_id: pulumi.Output[str]
    asg_name: pulumi.Output[str]
    min_size: int  # the group's floor, which the healthy-host alarm watches

    def __init__(
        self,
        name: str,
        args: LoadBalancedBackendArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(component_types.LOAD_BALANCED_BACKEND, name, None, opts)
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        self._settings = settings = args.settings
        self._account: pulumi.Output[str] | None = None  # asked when first needed

        alb_group, instance_group = self._security_groups(args)
        self._alb_group = alb_group
        if settings.instance_connect:
            self._instance_connect_endpoint(args, instance_group)
        load_balancer = self._load_balancer(args, alb_group)
        target_group = self._target_group(args, load_balancer)
        listener, forward_rule, origin_secret = self._listener(load_balancer, target_group)
        launch_template = self._launch_template(settings, instance_group)
        group = self._group(args, target_group, listener, launch_template)
        self._rollout(args, group, launch_template)
        # The target group serves the ALB only once the rule forwards to it, and AWS refuses a
        # requests-per-target scaling policy before then: whoever reads the suffix waits.
        target_group_arn_suffix = pulumi.Output.all(
            target_group.arn_suffix, forward_rule.arn
        ).apply(lambda values: str(values[0]))
        self._scaling_policy(settings, group, load_balancer.arn_suffix, target_group_arn_suffix)

        self.origin = AlbOrigin(
            domain_name=load_balancer.dns_name,
            header=OriginHeader(ORIGIN_VERIFY_HEADER, origin_secret),
            vpc_origin=VpcOriginTarget(
                alb_arn=load_balancer.arn, vpc_id=args.vpc_id, admit=self.admit_on_http
            )
            if settings.internal_alb
            else None,
        )
        self.alb_dns_name = load_balancer.dns_name
        self.alb_arn = load_balancer.arn
        self.alb_arn_suffix = load_balancer.arn_suffix
        self.alb_zone_id = load_balancer.zone_id
        self.target_group_arn = target_group.arn
        self.target_group_arn_suffix = target_group_arn_suffix
        self.listener_arn = listener.arn
        self.alb_security_group_id = alb_group.id
        self.asg_name = group.name
        self.min_size = settings.min_size
        self.register_outputs(
            {
                "alb_dns_name": self.alb_dns_name,
                "alb_arn": self.alb_arn,
                "alb_arn_suffix": self.alb_arn_suffix,
                "alb_zone_id": self.alb_zone_id,
                "target_group_arn": self.target_group_arn,
                "target_group_arn_suffix": self.target_group_arn_suffix,
                "listener_arn": self.listener_arn,
                "origin_verify_header_value": origin_secret,
                "alb_security_group_id": self.alb_security_group_id,
                "asg_name": self.asg_name,
            }
        )

    def admit_on_http(
        self, peer_security_group_id: pulumi.Input[str], opts: pulumi.ResourceOptions
    ) -> None:
        """Opens the ALB's listener port to a peer security group (CloudFront's VPC-origin
        network interfaces); the rule belongs to this component, like the group."""
        allow_tcp(
            aws.vpc.SecurityGroupIngressRule,
            f"{self._name}-alb-from-vpc-origin",
            security_group_id=self._alb_group.id,
            port=HTTP_PORT,
            description="HTTP from the CloudFront VPC origin network interfaces",
            peer_security_group_id=peer_security_group_id,
            opts=pulumi.ResourceOptions.merge(self._child, opts),
        )

    def _instance_connect_endpoint(
        self, args: LoadBalancedBackendArgs, instance_group: aws.ec2.SecurityGroup
    ) -> None:
        """A shell for on-call without NAT, keys or a bastion: an EC2 Instance Connect
        Endpoint (free) in a private subnet, the only source SSH is admitted from. Every use
        is an IAM-authorised, CloudTrail-logged ec2-instance-connect:OpenTunnel call."""
        name, child = self._name, self._child
        endpoint_group = aws.ec2.SecurityGroup(
            f"{name}-eice-sg",
            vpc_id=args.vpc_id,
            description="EC2 Instance Connect Endpoint: SSH to the backend instances only",
            opts=child,
        )
        allow_tcp(
            aws.vpc.SecurityGroupEgressRule,
            f"{name}-eice-to-instances",
            security_group_id=endpoint_group.id,
            port=SSH_PORT,
            description="SSH to the backend instances",
            peer_security_group_id=instance_group.id,
            opts=child,
        )
        allow_tcp(
            aws.vpc.SecurityGroupIngressRule,
            f"{name}-instances-from-eice",
            security_group_id=instance_group.id,
            port=SSH_PORT,
            description="SSH from the EC2 Instance Connect Endpoint only",
            peer_security_group_id=endpoint_group.id,
            opts=child,
        )
        aws.ec2transitgateway.InstanceConnectEndpoint(
            f"{name}-eice",
            subnet_id=args.private_subnet_ids[0],
            security_group_ids=[endpoint_group.id],
            # The endpoint's own address as the source, so the group rule above admits it.
            preserve_client_ip=False,
            # AWS allows one endpoint per VPC: a replacement (its subnet is the first zone's,
            # which a change of zones moves) can only follow the old endpoint's deletion.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )

    def _target_group(
        self, args: LoadBalancedBackendArgs, load_balancer: aws.lb.LoadBalancer
    ) -> aws.lb.TargetGroup:
        return aws.lb.TargetGroup(
            f"{self._name}-tg",
            vpc_id=args.vpc_id,
            target_type="instance",
            protocol="HTTP",
            port=args.settings.app_port,
            deregistration_delay=DEREGISTRATION_DELAY_SECONDS,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTP",
                port="traffic-port",
                path=args.settings.health_check_path,
                matcher="200",
                interval=HEALTH_CHECK_INTERVAL_SECONDS,
                timeout=HEALTH_CHECK_TIMEOUT_SECONDS,
                healthy_threshold=HEALTHY_THRESHOLD,
                unhealthy_threshold=UNHEALTHY_THRESHOLD,
            ),
            # A target group serves one load balancer. When the ALB is replaced (originAccess
            # switches `internal`), the new ALB's rule cannot forward to the group the old
            # ALB's rule still uses (TargetGroupAssociationLimit), so a new group comes with it.
            opts=pulumi.ResourceOptions(parent=self, replace_with=[load_balancer]),
        )

    def _load_balancer(
        self, args: LoadBalancedBackendArgs, alb_group: aws.ec2.SecurityGroup
    ) -> aws.lb.LoadBalancer:
        settings = args.settings
        return aws.lb.LoadBalancer(
            f"{self._name}-alb",
            load_balancer_type="application",
            internal=settings.internal_alb,
            ip_address_type="ipv4",
            subnets=list(
                args.private_subnet_ids if settings.internal_alb else args.public_subnet_ids
            ),
            security_groups=[alb_group.id],
            idle_timeout=ALB_IDLE_TIMEOUT_SECONDS,
            drop_invalid_header_fields=True,
            desync_mitigation_mode="defensive",
            enable_deletion_protection=settings.deletion_protection,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                bucket=args.access_log_bucket, prefix=ALB_LOG_PREFIX, enabled=True
            )
            if args.access_log_bucket is not None
            else None,
            opts=self._child,
        )

    def _listener(
        self, load_balancer: aws.lb.LoadBalancer, target_group: aws.lb.TargetGroup
    ) -> tuple[aws.lb.Listener, aws.lb.ListenerRule, pulumi.Output[str]]:
        """Port 80 answers 403 unless the request carries the origin secret, which the
        distribution sends; returns the listener, the forwarding rule and the secret."""
        listener = aws.lb.Listener(
            f"{self._name}-http",
            load_balancer_arn=load_balancer.arn,
            protocol="HTTP",
            port=HTTP_PORT,
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="fixed-response",
                    fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
                        content_type="text/plain", status_code="403", message_body="Forbidden"
                    ),
                )
            ],
            opts=self._child,
        )
        # Rotation without a 403: while CloudFront's edges move to the new value (5-15 min),
        # the rule accepts it and the one before.
        version = self._settings.origin_secret_version
        accepted = [self._origin_secret(v) for v in (version, version - 1) if v >= 1]
        forward_rule = aws.lb.ListenerRule(
            f"{self._name}-from-cloudfront",
            listener_arn=listener.arn,
            priority=1,
            conditions=[
                aws.lb.ListenerRuleConditionArgs(
                    http_header=aws.lb.ListenerRuleConditionHttpHeaderArgs(
                        http_header_name=ORIGIN_VERIFY_HEADER, values=accepted
                    )
                )
            ],
            actions=[
                aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=target_group.arn)
            ],
            opts=self._child,
        )
        # The distribution sends the new value only once the rule accepts it.
        sent = pulumi.Output.all(accepted[0], forward_rule.arn).apply(lambda values: values[0])
        return listener, forward_rule, pulumi.Output.secret(sent)

    def _origin_secret(self, version: int) -> pulumi.Output[str]:
        """The origin secret of one originSecretVersion. Version 1 keeps the name it had
        before versions, so existing stacks keep their value."""
        suffix = "" if version == 1 else f"-v{version}"
        secret = random.RandomPassword(
            f"{self._name}-origin-secret{suffix}",
            # Letters and digits only: ALB header conditions treat * and ? as wildcards.
            length=ORIGIN_SECRET_LENGTH,
            special=False,
            opts=self._child,
        )
        return pulumi.Output.secret(secret.result)

    def _group(
        self,
        args: LoadBalancedBackendArgs,
        target_group: aws.lb.TargetGroup,
        listener: aws.lb.Listener,
        launch_template: aws.ec2.LaunchTemplate,
    ) -> aws.autoscaling.Group:
        settings = args.settings
        return aws.autoscaling.Group(
            f"{self._name}-asg",
            vpc_zone_identifiers=list(args.private_subnet_ids),
            min_size=settings.min_size,
            max_size=settings.max_size,
            desired_capacity=settings.desired_capacity,
            target_group_arns=[target_group.arn],
            health_check_type="ELB",
            health_check_grace_period=HEALTH_CHECK_GRACE_SECONDS,
            # The version it starts with; each later one is rolled out by the Rollout below.
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=launch_template.id,
                version=launch_template.latest_version.apply(str),
            ),
            # The provider's capacity wait on an update asks for exactly max(minSize, the
            # desiredCapacity it last sent) healthy instances, a capacity the scaling policy
            # owns, and times out while the policy moves it. Nothing waits on the group itself:
            # the rollout waits for its instances, the smoke check for the service.
            wait_for_capacity_timeout="0",
            enabled_metrics=[
                aws.autoscaling.Metric.GROUP_DESIRED_CAPACITY,
                aws.autoscaling.Metric.GROUP_IN_SERVICE_INSTANCES,
                aws.autoscaling.Metric.GROUP_PENDING_INSTANCES,
                aws.autoscaling.Metric.GROUP_TERMINATING_INSTANCES,
            ],
            # desiredCapacity sets the size at creation; from then on the scaling policy below
            # owns it, and `pulumi up` must not reset what the policy chose. The launch
            # template is the rollout's: the group moves to a version when its refresh succeeds.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[listener],
                ignore_changes=["desiredCapacity", "launchTemplate"],
            ),
        )

    def _rollout(
        self,
        args: LoadBalancedBackendArgs,
        group: aws.autoscaling.Group,
        launch_template: aws.ec2.LaunchTemplate,
    ) -> Rollout:
        """Each new template version replaces the instances through an instance refresh that
        rolls back when it fails or an alarm fires, pausing at each checkpoint so the alarms
        can judge the new version on part of the traffic; `pulumi up` waits for its end."""
        settings = args.settings
        checkpoints = settings.rollout_checkpoints
        return Rollout(
            f"{self._name}-rollout",
            RolloutArgs(
                group_name=group.name,
                launch_template_id=launch_template.id,
                launch_template_version=launch_template.latest_version,
                preferences=RolloutPreferences(
                    instance_warmup_seconds=HEALTH_CHECK_GRACE_SECONDS,
                    alarm_names=tuple(args.rollout_alarm_names),
                    checkpoint_percentages=checkpoints,
                    checkpoint_delay_seconds=CHECKPOINT_DELAY_SECONDS if checkpoints else 0,
                ),
                region=settings.region,
                profile=settings.aws_profile,
                timeout_seconds=ROLLOUT_TIMEOUT_SECONDS
                + len(checkpoints) * CHECKPOINT_DELAY_SECONDS,
            ),
            opts=self._child,
        )

    def _scaling_policy(
        self,
        settings: BackendSettings,
        group: aws.autoscaling.Group,
        alb_arn_suffix: pulumi.Input[str],
        target_group_arn_suffix: pulumi.Input[str],
    ) -> None:
        """Target tracking on ALB requests per instance: adds instances above the target and
        removes them below, within minSize..maxSize."""
        aws.autoscaling.Policy(
            f"{self._name}-requests-per-instance",
            autoscaling_group_name=group.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration=aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
                predefined_metric_specification=aws.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ALBRequestCountPerTarget",
                    resource_label=pulumi.Output.concat(
                        alb_arn_suffix, "/", target_group_arn_suffix
                    ),
                ),
                target_value=settings.scaling_target_requests,
            ),
            # It lived in the Operations component ("operations") before the group owned it.
            opts=pulumi.ResourceOptions(
                parent=self,
                aliases=[
                    pulumi.Alias(
                        name="operations-requests-per-instance",
                        parent=pulumi.create_urn("operations", component_types.OPERATIONS),
                    )
                ],
            ),
        )

    def _security_groups(
        self, args: LoadBalancedBackendArgs
    ) -> tuple[aws.ec2.SecurityGroup, aws.ec2.SecurityGroup]:
        """CloudFront -> ALB on port 80 -> instances on the app port; nothing else inbound."""
        name, child, port = self._name, self._child, args.settings.app_port
        alb_group = aws.ec2.SecurityGroup(
            f"{name}-alb-sg",
            vpc_id=args.vpc_id,
            description="Load balancer: HTTP from CloudFront only",
            opts=child,
        )
        instance_group = aws.ec2.SecurityGroup(
            f"{name}-instance-sg",
            vpc_id=args.vpc_id,
            description="Backend instances: app port from the load balancer only",
            opts=child,
        )
        cloudfront = aws.ec2.get_managed_prefix_list_output(
            name=CLOUDFRONT_ORIGIN_FACING_PREFIX_LIST, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        ingress, egress = aws.vpc.SecurityGroupIngressRule, aws.vpc.SecurityGroupEgressRule
        allow_tcp(
            ingress,
            f"{name}-alb-from-cloudfront",
            security_group_id=alb_group.id,
            port=HTTP_PORT,
            description="HTTP from CloudFront origin-facing servers",
            prefix_list_id=cloudfront.id,
            opts=child,
        )
        allow_tcp(
            egress,
            f"{name}-alb-to-instances",
            security_group_id=alb_group.id,
            port=port,
            description="Requests and health checks to the backend instances",
            peer_security_group_id=instance_group.id,
            opts=child,
        )
        allow_tcp(
            ingress,
            f"{name}-instances-from-alb",
            security_group_id=instance_group.id,
            port=port,
            description="App port from the load balancer",
            peer_security_group_id=alb_group.id,
            opts=child,
        )
        allow_tcp(
            egress,
            f"{name}-instances-https-out",
            security_group_id=instance_group.id,
            port=443,
            description="HTTPS out: OS packages via the S3 endpoint, Systems Manager via NAT",
            cidr_ipv4="0.0.0.0/0",
            opts=child,
        )
        return alb_group, instance_group

    def _instance_profile(self, settings: BackendSettings) -> aws.iam.InstanceProfile:
        name, child = self._name, self._child
        role = aws.iam.Role(
            f"{name}-instance-role",
            # Exactly the app's image and secrets (app_access.py), nothing else: no managed
            # policy, whose reads reach every parameter (Instance Connect is the shell path).
            description="Backend instances: the app's image and secrets only",
            permissions_boundary=self._boundary_arn(settings),
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ec2.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            opts=child,
        )
        if app_reads := self._app_read_policy(settings):
            aws.iam.RolePolicy(f"{name}-instance-app", role=role.id, policy=app_reads, opts=child)
        return aws.iam.InstanceProfile(f"{name}-instance-profile", role=role.name, opts=child)

    def _account_id(self) -> pulumi.Output[str]:
        """This account's id, asked once for the role's boundary and its app reads."""
        if self._account is None:
            identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
            self._account = identity.account_id
        return self._account

    def _boundary_arn(self, settings: BackendSettings) -> pulumi.Output[str] | None:
        """The permissions boundary bootstrap/ owns, which the CI deploy role requires on
        every role it creates (instanceRoleBoundary); None: no boundary."""
        if not settings.instance_role_boundary:
            return None
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        return pulumi.Output.concat(
            "arn:",
            partition.partition,
            ":iam::",
            self._account_id(),
            ":policy/",
            settings.instance_role_boundary,
        )

    def _app_read_policy(self, settings: BackendSettings) -> pulumi.Output[str] | None:
        """The app's image and secrets, by exact ARN (see app_access.py); None: nothing to read."""
        if not reads_anything(settings.app):  # no policy, and no account lookup
            return None
        return self._account_id().apply(
            lambda account_id: json.dumps(
                app_read_policy(settings.app, settings.region, account_id)
            )
        )

    def _image(self, settings: BackendSettings) -> tuple[pulumi.Input[str], pulumi.Input[str]]:
        """The AMI id the template names and its root device: a literal machineImage as it
        is, else the AMI its SSM parameter (Amazon Linux 2023's by default) names at the
        first deploy, kept until the parameter changes or the resource is replaced."""
        machine_image = settings.app.machine_image
        parameter = image_parameter(machine_image)
        if machine_image and parameter is None:
            return machine_image, settings.machine_image_root_device
        image = MachineImage(
            f"{self._name}-image",
            MachineImageArgs(
                parameters={settings.architecture: parameter}
                if parameter
                else AL2023_IMAGE_PARAMETERS,
                region=settings.region,
                profile=settings.aws_profile,
            ),
            opts=self._child,
        )
        ours = image.images.apply(lambda images: images[settings.architecture])
        return ours.apply(lambda i: i["image_id"]), ours.apply(lambda i: i["root_device_name"])

    def _launch_template(
        self, settings: BackendSettings, instance_group: aws.ec2.SecurityGroup
    ) -> aws.ec2.LaunchTemplate:
        name, child = self._name, self._child
        profile = self._instance_profile(settings)
        tags = {**settings.instance_tags, "Name": f"{name}-instance"}
        image_id, root_device = self._image(settings)
        return aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description="Backend instances (Amazon Linux 2023, IMDSv2, encrypted gp3)",
            image_id=image_id,
            instance_type=settings.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    device_index=0,
                    associate_public_ip_address="false",
                    security_groups=[instance_group.id],
                    delete_on_termination="true",
                )
            ],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                http_put_response_hop_limit=1,
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    # The image's own root device: a mapping for another device name would add
                    # an empty volume and leave the root neither gp3 nor encrypted.
                    device_name=root_device,
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            credit_specification=aws.ec2.LaunchTemplateCreditSpecificationArgs(
                cpu_credits=settings.cpu_credits.value
            )
            if settings.cpu_credits
            else None,
            user_data=user_data(
                settings.app_port, settings.health_check_path, settings.app, settings.region
            ),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                for kind in ("instance", "volume", "network-interface")
            ],
            update_default_version=True,
            opts=child,
        )
