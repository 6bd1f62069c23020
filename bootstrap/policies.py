"""What the deploy and preview roles may do, as plain data derived from the main program.

`RESOURCE_PERMISSIONS` maps every resource type the main program registers to the IAM actions
Pulumi's AWS provider calls to create, read, update and delete it; `INVOKE_PERMISSIONS` does the
same for the program's lookups. Each action is granted in a `Scope`: the resource ARNs (and
condition) it is allowed on. tests/test_bootstrap.py runs the main program in every stack and
mode and fails on a type or lookup missing here, so a new resource cannot ship without its
permissions. Where the service evaluates tags, a grant also holds the role to its environment:
the resource must carry the environment's Project and Environment tags (OWN), or the request
must create it with them (NEW); tests/test_bootstrap.py lists, with the reason, every write
that no tag can hold. Each environment's deploy role gets every action; its preview role only
the read ones (`Describe*`, `List*`, `Get*`), in the same scopes and conditions, so a preview
reads what a deploy reads, of its own environment, and changes nothing.

ARN templates use `{partition}`, `{account}`, `{project_tag}`, `{environment}` and
`{hosted_zone}` (one resource per configured zone; none: the statement is left out), filled in
by `Context`.
Names in ARNs are the main program's logical names plus the random suffix Pulumi appends
(`backend-alb` becomes `backend-alb-1a2b3c4`), so `backend-alb-*` matches only this program's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MANAGED_POLICY_LIMIT = 6144  # characters of a managed policy, whitespace excluded
STATE_ROOT = ".pulumi"  # where the self-managed backend keeps everything in its bucket
READ_ONLY_PREFIXES = ("Describe", "List", "Get")
POLICY_VERSION = "2012-10-17"

Condition = Mapping[str, Mapping[str, str | Sequence[str]]]


@dataclass(frozen=True)
class Context:
    """The account and environment the policies are rendered for."""

    partition: str  # aws, aws-cn, aws-us-gov
    account: str
    project_tag: str  # the `Project` tag every stack puts on its resources (aws:defaultTags)
    environment: str = "dev"  # the `Environment` tag of the stacks the role serves
    hosted_zones: tuple[str, ...] = ()  # the only zones whose records may change


@dataclass(frozen=True)
class Scope:
    """Where actions are allowed: one policy statement. Templates are filled in by `Context`."""

    sid: str
    resources: tuple[str, ...]
    condition: Condition = field(default_factory=dict)


# Tag conditions a grant may add to its scope, where the service evaluates them. Every stack
# tags every resource with its Project and Environment (the provider's default tags), so a role
# can be held to its own environment's resources:
OWN = "own"  # the resource already carries the environment's Project and Environment tags
NEW = "new"  # the request creates it with them (aws:RequestTag)
UNTAGGED = "untagged"  # the request tags, with them, a resource that has no Environment tag
TAG_MODES = {
    OWN: ("OfTheEnvironment", {"StringEquals": {
        "aws:ResourceTag/Project": "{project_tag}",
        "aws:ResourceTag/Environment": "{environment}"}}),
    NEW: ("TaggedForTheEnvironment", {"StringEquals": {
        "aws:RequestTag/Project": "{project_tag}",
        "aws:RequestTag/Environment": "{environment}"}}),
    UNTAGGED: ("NotYetTagged", {
        "StringEquals": {"aws:RequestTag/Project": "{project_tag}",
                         "aws:RequestTag/Environment": "{environment}"},
        "Null": {"aws:ResourceTag/Environment": "true"}}),
}  # fmt: skip


@dataclass(frozen=True)
class Grant:
    scope: Scope
    actions: tuple[str, ...]
    # Set when the actions belong to another service than the resource type: why the caller
    # needs them (the service checks the caller's permission on its behalf).
    why: str = ""
    tag: str = ""  # OWN, NEW, UNTAGGED or "" (none): the tag condition added to the scope's


def allow(scope: Scope, *actions: str, why: str = "", tag: str = "") -> Grant:
    return Grant(scope, actions, why, tag)


# ---------------------------------------------------------------------------------- names
MAIN_PROJECT = "cdn-alb-backend"  # the program whose stacks the roles deploy
LOAD_BALANCER_NAME = "backend-alb-*"
TARGET_GROUP_NAME = "backend-tg-*"
AUTO_SCALING_GROUP_NAME = "backend-asg-*"
INSTANCE_ROLE_NAME = "backend-instance-role-*"
INSTANCE_PROFILE_NAME = "backend-instance-profile-*"
LOG_BUCKET_NAME = "logs-bucket-*"
ALARM_TOPIC_NAME = "operations-*"
ALARM_NAME = f"{MAIN_PROJECT}-*"  # <project>-<stack>-<what it watches>
WEB_ACL_NAME = "firewall-acl-*"
WAF_LOG_GROUP_NAME = f"aws-waf-logs-{MAIN_PROJECT}-*"  # WAF requires the aws-waf-logs- prefix
LOG_SOURCE_NAME = "front-door-log-source-*"
LOG_DESTINATION_NAME = "front-door-log-destination-*"
# The names the scopes below rely on, by resource type; the tests check the program's resources
# still get names that match.
NAMED_RESOURCES: dict[str, str] = {
    "aws:lb/loadBalancer:LoadBalancer": LOAD_BALANCER_NAME,
    "aws:lb/targetGroup:TargetGroup": TARGET_GROUP_NAME,
    "aws:autoscaling/group:Group": AUTO_SCALING_GROUP_NAME,
    "aws:iam/role:Role": INSTANCE_ROLE_NAME,
    "aws:iam/instanceProfile:InstanceProfile": INSTANCE_PROFILE_NAME,
    "aws:s3/bucket:Bucket": LOG_BUCKET_NAME,
    "aws:sns/topic:Topic": ALARM_TOPIC_NAME,
    "aws:cloudwatch/metricAlarm:MetricAlarm": ALARM_NAME,
    "aws:cloudwatch/dashboard:Dashboard": ALARM_NAME,
    "aws:wafv2/webAcl:WebAcl": WEB_ACL_NAME,
    "aws:cloudwatch/logGroup:LogGroup": WAF_LOG_GROUP_NAME,
    "aws:cloudwatch/logDeliverySource:LogDeliverySource": LOG_SOURCE_NAME,
    "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination": LOG_DESTINATION_NAME,
}
# The permissions boundary every instance role must carry (bootstrap/instance_boundary.py
# creates it; the program names it in its `instanceRoleBoundary` config key): whatever policies
# the deploy role writes or attaches, the instance role can do no more than this.
INSTANCE_ROLE_BOUNDARY = f"{MAIN_PROJECT}-instance-boundary"
INSTANCE_ROLE_BOUNDARY_ARN = f"arn:{{partition}}:iam::{{account}}:policy/{INSTANCE_ROLE_BOUNDARY}"
# SSM parameters a stack's `machineImage: resolve:ssm:<name>` may name, besides AWS's public
# ones: under this prefix (stack_settings.IMAGE_PARAMETER_PREFIXES; the roles read nothing else
# of Parameter Store).
MACHINE_IMAGE_PARAMETER_PREFIX = f"/{MAIN_PROJECT}/"
# Record types the program writes: alias A and AAAA records, and ACM's CNAME validation record.
DNS_RECORD_TYPES = ("A", "AAAA", "CNAME")
# Services whose service-linked role the first deployment in an account creates.
SERVICE_LINKED_ROLE_SERVICES = (
    "elasticloadbalancing.amazonaws.com",
    "autoscaling.amazonaws.com",
    "vpcorigin.cloudfront.amazonaws.com",
    "wafv2.amazonaws.com",  # web ACL logging
    "ec2-instance-connect.amazonaws.com",
)

# --------------------------------------------------------------------------------- scopes
ACCOUNT_EC2 = "arn:{partition}:ec2:*:{account}:*"
# Describe/List/Get actions that support no resource-level permissions: "*" is the only
# resource they accept. The actions are still named one by one; no action wildcard anywhere.
READ_ANYWHERE = Scope("ReadWithoutResourceLevelPermissions", ("*",))
# The few writes that support no resource-level permissions either (per IAM's service
# authorization reference); each is listed with the resource type that needs it.
WRITE_ANYWHERE = Scope("WriteWithoutResourceLevelPermissions", ("*",))
# EC2 ARNs carry generated ids, not names: EC2 is scoped by tag instead. An EC2 resource is
# created only tagged for the role's environment (a NEW grant on the new resource's type alone:
# aws:RequestTag is the same for every resource of a request, so on any other type it would
# let a request name anyone's VPC, subnet or security group), and everything else a request
# touches, or any later change, needs the environment's tags already there (OWN). So the role
# can neither build into nor change a network, security group or template it did not create.
EC2 = Scope("Ec2", (ACCOUNT_EC2,))


def ec2_new(*resource_types: str) -> Scope:
    """Where an EC2 create action makes its new resources: those resource types only."""
    camel = "".join(t.title().replace("-", "") for t in resource_types)
    return Scope(
        f"Ec2New{camel}",
        tuple(f"arn:{{partition}}:ec2:*:{{account}}:{t}/*" for t in resource_types),
    )


# Amazon's (and Marketplace) images have no account in their ARN and carry no tags of ours.
EC2_IMAGES = Scope("Ec2Images", ("arn:{partition}:ec2:*::image/*",))
# AWS-managed prefix lists (CloudFront's origin-facing list) have `aws` where the account would
# be, arn:aws:ec2:<region>:aws:prefix-list/pl-..., which `*` matches and, unlike `aws`, a linter
# can parse. They carry no tags of ours.
AWS_PREFIX_LISTS = Scope("AwsManagedPrefixLists", ("arn:{partition}:ec2:*:*:prefix-list/*",))
# The provider adopts the VPC's default security group, which AWS creates untagged: the role
# may tag a security group that has no Environment tag yet (UNTAGGED), and then, as its own,
# strip its rules.
EC2_UNTAGGED_SECURITY_GROUPS = Scope(
    "Ec2AdoptTheDefaultSecurityGroup", ("arn:{partition}:ec2:*:{account}:security-group/*",)
)
# An EC2 Instance Connect Endpoint creates its network interface with the caller's rights and
# without our tags; the subnet and security group it goes into must be the environment's (OWN).
EC2_ENDPOINT_INTERFACES = Scope(
    "Ec2InstanceConnectEndpointInterfaces",
    ("arn:{partition}:ec2:*:{account}:network-interface/*",),
)
# AWS's public image parameters (Amazon Linux and others), and a stack's own machineImage
# parameter, which stack_settings.py requires under MACHINE_IMAGE_PARAMETER_PREFIX.
AMI_PARAMETERS = Scope(
    "ImageParameters",
    (
        "arn:{partition}:ssm:*:*:parameter/aws/service/*",
        f"arn:{{partition}}:ssm:*:{{account}}:parameter{MACHINE_IMAGE_PARAMETER_PREFIX}*",
    ),
)
LOAD_BALANCING_ARNS = tuple(
    f"arn:{{partition}}:elasticloadbalancing:*:{{account}}:{resource}"
    for resource in (
        f"loadbalancer/app/{LOAD_BALANCER_NAME}/*",
        f"listener/app/{LOAD_BALANCER_NAME}/*",
        f"listener-rule/app/{LOAD_BALANCER_NAME}/*",
        f"targetgroup/{TARGET_GROUP_NAME}/*",
    )
)
LOAD_BALANCER = Scope("LoadBalancer", LOAD_BALANCING_ARNS)
ELB_CREATE_ACTIONS = (
    "CreateLoadBalancer", "CreateTargetGroup", "CreateListener", "CreateRule",
)  # fmt: skip
# Tags on what a create call makes (AddTags is authorized separately for it).
LOAD_BALANCING_TAG_ON_CREATE = Scope(
    "LoadBalancingTagOnCreate",
    LOAD_BALANCING_ARNS,
    {"StringEquals": {"elasticloadbalancing:CreateAction": ELB_CREATE_ACTIONS}},
)
# The provider's default tags do not reach Auto Scaling groups (they take `tag` blocks), so the
# program's group carries no Environment tag: scoped by name only.
AUTO_SCALING_GROUP = Scope(
    "AutoScalingGroup",
    (
        "arn:{partition}:autoscaling:*:{account}:autoScalingGroup:*:"
        f"autoScalingGroupName/{AUTO_SCALING_GROUP_NAME}",
    ),
)
INSTANCE_ROLE_ARN = f"arn:{{partition}}:iam::{{account}}:role/{INSTANCE_ROLE_NAME}"
INSTANCE_ROLE = Scope(
    "InstanceRoleAndProfile",
    (
        INSTANCE_ROLE_ARN,
        f"arn:{{partition}}:iam::{{account}}:instance-profile/{INSTANCE_PROFILE_NAME}",
    ),
)
# What can change an instance role's permissions, only while it has the boundary (and, for
# CreateRole and PutRolePermissionsBoundary, only to set it). Nothing may remove or edit the
# boundary, or change a role's trust policy: see NEVER_LOOSEN_THE_BOUNDARY.
INSTANCE_ROLE_WITHIN_BOUNDARY = Scope(
    "InstanceRoleWithinTheBoundary",
    (INSTANCE_ROLE_ARN,),
    {"ArnEquals": {"iam:PermissionsBoundary": INSTANCE_ROLE_BOUNDARY_ARN}},
)
PASS_INSTANCE_ROLE = Scope(
    "PassOnlyTheInstanceRoleToEc2",
    (INSTANCE_ROLE_ARN,),
    {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
)
SERVICE_LINKED_ROLES = Scope(
    "ServiceLinkedRoles",
    tuple(
        f"arn:{{partition}}:iam::{{account}}:role/aws-service-role/{service}/*"
        for service in SERVICE_LINKED_ROLE_SERVICES
    ),
    {"StringEquals": {"iam:AWSServiceName": SERVICE_LINKED_ROLE_SERVICES}},
)
CLOUDFRONT = Scope(
    "CloudFront",
    (
        "arn:{partition}:cloudfront::{account}:distribution/*",
        "arn:{partition}:cloudfront::{account}:vpcorigin/*",
    ),
)
# CloudFront's web ACLs live in us-east-1.
WEB_ACL = Scope(
    "WebAcl",
    (f"arn:{{partition}}:wafv2:us-east-1:{{account}}:global/webacl/{WEB_ACL_NAME}/*",),
)
# Creating or updating a web ACL that uses AWS managed rule groups is also authorized against
# the account's managed rule set ARNs, which carry no tags.
MANAGED_RULE_SETS = Scope(
    "AwsManagedRuleSets",
    ("arn:{partition}:wafv2:us-east-1:{account}:global/managedruleset/*/*",),
)
CERTIFICATES = Scope("Certificates", ("arn:{partition}:acm:us-east-1:{account}:certificate/*",))
REQUEST_DNS_VALIDATED_CERTIFICATES = Scope(
    "RequestDnsValidatedCertificates", ("*",), {"StringEquals": {"acm:ValidationMethod": "DNS"}}
)
HOSTED_ZONES = Scope(
    "HostedZones",
    ("arn:{partition}:route53:::hostedzone/*", "arn:{partition}:route53:::change/*"),
)
# An interface endpoint's private DNS joins the VPC to a hosted zone AWS owns and names.
ENDPOINT_PRIVATE_DNS = Scope("EndpointPrivateDnsZones", ("arn:{partition}:route53:::hostedzone/*",))
# Only in the zones the bootstrap is configured with (`hostedZoneIds`).
RECORD_SETS = Scope(
    "RecordSetsOfTheProgramsTypesInTheConfiguredZones",
    ("arn:{partition}:route53:::hostedzone/{hosted_zone}",),
    {
        "ForAllValues:StringEquals": {
            "route53:ChangeResourceRecordSetsRecordTypes": DNS_RECORD_TYPES
        }
    },
)
# S3 evaluates no tags for bucket actions: the log bucket is scoped by name only.
LOG_BUCKET = Scope(
    "LogBucket",
    (f"arn:{{partition}}:s3:::{LOG_BUCKET_NAME}", f"arn:{{partition}}:s3:::{LOG_BUCKET_NAME}/*"),
)
ALARM_TOPICS = Scope("AlarmTopics", (f"arn:{{partition}}:sns:*:{{account}}:{ALARM_TOPIC_NAME}",))
ALARMS = Scope("Alarms", (f"arn:{{partition}}:cloudwatch:*:{{account}}:alarm:{ALARM_NAME}",))
# Dashboards have no region in their ARN, and no tags; the program names them like its alarms.
DASHBOARDS = Scope(
    "Dashboards", (f"arn:{{partition}}:cloudwatch::{{account}}:dashboard/{ALARM_NAME}",)
)
# Both are in us-east-1, where CloudFront's log delivery source and WAF's log group must be.
WAF_LOG_GROUP = Scope(
    "WafLogGroup",
    (f"arn:{{partition}}:logs:us-east-1:{{account}}:log-group:{WAF_LOG_GROUP_NAME}",),
)
LOG_DELIVERY = Scope(
    "CloudFrontLogDelivery",
    (
        f"arn:{{partition}}:logs:us-east-1:{{account}}:delivery-source:{LOG_SOURCE_NAME}",
        f"arn:{{partition}}:logs:us-east-1:{{account}}:delivery-destination:{LOG_DESTINATION_NAME}",
        "arn:{partition}:logs:us-east-1:{account}:delivery:*",
    ),
)
# A delivery's ARN has only a generated id: created tagged, it is the environment's.
NEW_LOG_DELIVERIES = Scope(
    "CloudFrontLogDeliveries", ("arn:{partition}:logs:us-east-1:{account}:delivery:*",)
)


# ----------------------------------------------------------------------- per resource type
def tags(scope: Scope, *actions: str) -> tuple[Grant, Grant]:
    """Tagging actions (tag, untag, list) on the environment's resources, and tagging a
    resource without an Environment tag yet for the environment (what a create does)."""
    tag_action = next(a for a in actions if a.split(":")[1].startswith(("Tag", "AddTags")))
    return allow(scope, *actions, tag=OWN), allow(scope, tag_action, tag=UNTAGGED)


# Tags on what a create call makes; its ec2:CreateAction condition lists the NEW EC2 grants'
# actions (see `_tagged_scope`).
EC2_TAG_ON_CREATE = Scope("Ec2TagOnCreate", (ACCOUNT_EC2,))
TAGS_EC2 = (
    allow(EC2, "ec2:CreateTags", "ec2:DeleteTags", tag=OWN),
    allow(EC2_TAG_ON_CREATE, "ec2:CreateTags", tag=NEW),
)
TAGS_ELB = (
    allow(
        LOAD_BALANCER, "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags", tag=OWN
    ),
    allow(LOAD_BALANCING_TAG_ON_CREATE, "elasticloadbalancing:AddTags", tag=NEW),
)
TAGS_LOG_DELIVERY = tags(
    LOG_DELIVERY, "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource"
)
TAGS_CLOUDFRONT = tags(
    CLOUDFRONT,
    "cloudfront:TagResource",
    "cloudfront:UntagResource",
    "cloudfront:ListTagsForResource",
)
READ_ELB_TAGS = allow(READ_ANYWHERE, "elasticloadbalancing:DescribeTags")
WAIT_FOR_NETWORK_INTERFACES = allow(
    READ_ANYWHERE,
    "ec2:DescribeNetworkInterfaces",
    why="deleting a subnet, security group or load balancer waits for AWS to remove its ENIs",
)
# Bucket-scoped S3 reads the provider makes on every refresh of a bucket.
S3_BUCKET_READS = (
    "s3:GetAccelerateConfiguration", "s3:GetBucketAcl", "s3:GetBucketCORS",
    "s3:GetBucketLogging", "s3:GetBucketObjectLockConfiguration", "s3:GetBucketPolicy",
    "s3:GetBucketRequestPayment", "s3:GetBucketTagging", "s3:GetBucketVersioning",
    "s3:GetBucketWebsite", "s3:GetEncryptionConfiguration", "s3:GetLifecycleConfiguration",
    "s3:GetReplicationConfiguration", "s3:ListBucket",
)  # fmt: skip


def _service_linked_role(service: str) -> Grant:
    return allow(
        SERVICE_LINKED_ROLES,
        "iam:CreateServiceLinkedRole",
        why=f"the first one in an account creates the service-linked role of {service}",
    )


RESOURCE_PERMISSIONS: dict[str, tuple[Grant, ...]] = {
    # ------------------------------------------------------------------------ network (EC2)
    "aws:ec2/vpc:Vpc": (
        allow(ec2_new("vpc"), "ec2:CreateVpc", tag=NEW),
        allow(EC2, "ec2:ModifyVpcAttribute", "ec2:DescribeVpcAttribute", "ec2:DeleteVpc", tag=OWN),
        allow(
            READ_ANYWHERE,
            "ec2:DescribeVpcs",
            "ec2:DescribeRouteTables",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeNetworkAcls",
        ),
        *TAGS_EC2,
    ),
    "aws:ec2/subnet:Subnet": (
        allow(ec2_new("subnet"), "ec2:CreateSubnet", tag=NEW),
        allow(EC2, "ec2:CreateSubnet", "ec2:ModifySubnetAttribute", "ec2:DeleteSubnet", tag=OWN),
        allow(READ_ANYWHERE, "ec2:DescribeSubnets", "ec2:DescribeNetworkInterfaces"),
        *TAGS_EC2,
    ),
    "aws:ec2/internetGateway:InternetGateway": (
        allow(ec2_new("internet-gateway"), "ec2:CreateInternetGateway", tag=NEW),
        allow(
            EC2,
            "ec2:AttachInternetGateway",
            "ec2:DetachInternetGateway",
            "ec2:DeleteInternetGateway",
            tag=OWN,
        ),
        allow(READ_ANYWHERE, "ec2:DescribeInternetGateways"),
        *TAGS_EC2,
    ),
    "aws:ec2/routeTable:RouteTable": (
        allow(ec2_new("route-table"), "ec2:CreateRouteTable", tag=NEW),
        allow(
            EC2,
            "ec2:CreateRouteTable",
            "ec2:CreateRoute",
            "ec2:ReplaceRoute",
            "ec2:DeleteRoute",
            "ec2:DeleteRouteTable",
            tag=OWN,
        ),
        allow(READ_ANYWHERE, "ec2:DescribeRouteTables"),
        *TAGS_EC2,
    ),
    "aws:ec2/route:Route": (
        allow(EC2, "ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute", tag=OWN),
        allow(READ_ANYWHERE, "ec2:DescribeRouteTables"),
    ),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": (
        allow(
            EC2,
            "ec2:AssociateRouteTable",
            "ec2:ReplaceRouteTableAssociation",
            "ec2:DisassociateRouteTable",
            tag=OWN,
        ),
        allow(READ_ANYWHERE, "ec2:DescribeRouteTables"),
    ),
    "aws:ec2/eip:Eip": (
        allow(ec2_new("elastic-ip"), "ec2:AllocateAddress", tag=NEW),
        allow(EC2, "ec2:ReleaseAddress", tag=OWN),
        allow(READ_ANYWHERE, "ec2:DescribeAddresses", "ec2:DescribeAddressesAttribute"),
        *TAGS_EC2,
    ),
    "aws:ec2/natGateway:NatGateway": (
        allow(ec2_new("natgateway"), "ec2:CreateNatGateway", tag=NEW),
        allow(EC2, "ec2:CreateNatGateway", "ec2:DeleteNatGateway", tag=OWN),
        allow(READ_ANYWHERE, "ec2:DescribeNatGateways"),
        *TAGS_EC2,
    ),
    "aws:ec2/securityGroup:SecurityGroup": (
        allow(ec2_new("security-group"), "ec2:CreateSecurityGroup", tag=NEW),
        # The provider revokes the allow-all egress rule AWS adds to every new group.
        allow(
            EC2,
            "ec2:CreateSecurityGroup",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:DeleteSecurityGroup",
            tag=OWN,
        ),
        allow(READ_ANYWHERE, "ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules"),
        WAIT_FOR_NETWORK_INTERFACES,
        *TAGS_EC2,
    ),
    # Adopting the default group tags it, then revokes the rules AWS created; deleting it only
    # forgets it.
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": (
        allow(EC2_UNTAGGED_SECURITY_GROUPS, "ec2:CreateTags", tag=UNTAGGED),
        allow(EC2, "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", tag=OWN),
        allow(READ_ANYWHERE, "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"),
        *TAGS_EC2,
    ),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (
        allow(ec2_new("security-group-rule"), "ec2:AuthorizeSecurityGroupIngress", tag=NEW),
        allow(
            EC2,
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupIngress",
            "ec2:ModifySecurityGroupRules",
            tag=OWN,
        ),
        allow(
            AWS_PREFIX_LISTS,
            "ec2:ModifySecurityGroupRules",
            why="a rule that admits CloudFront's managed prefix list names that list",
        ),
        allow(READ_ANYWHERE, "ec2:DescribeSecurityGroupRules"),
        *TAGS_EC2,
    ),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": (
        allow(ec2_new("security-group-rule"), "ec2:AuthorizeSecurityGroupEgress", tag=NEW),
        allow(
            EC2,
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:ModifySecurityGroupRules",
            tag=OWN,
        ),
        allow(
            AWS_PREFIX_LISTS,
            "ec2:ModifySecurityGroupRules",
            why="a rule to a managed prefix list (the S3 endpoint's) names that list",
        ),
        allow(READ_ANYWHERE, "ec2:DescribeSecurityGroupRules"),
        *TAGS_EC2,
    ),
    "aws:ec2/vpcEndpoint:VpcEndpoint": (
        allow(ec2_new("vpc-endpoint"), "ec2:CreateVpcEndpoint", tag=NEW),
        allow(
            EC2,
            "ec2:CreateVpcEndpoint",
            "ec2:ModifyVpcEndpoint",
            "ec2:DeleteVpcEndpoints",
            tag=OWN,
        ),
        allow(
            READ_ANYWHERE,
            "ec2:DescribeVpcEndpoints",
            "ec2:DescribePrefixLists",
            "ec2:DescribeVpcEndpointServices",
        ),
        *TAGS_EC2,
        allow(
            ENDPOINT_PRIVATE_DNS,
            "route53:AssociateVPCWithHostedZone",
            why="an interface endpoint's private DNS joins the VPC to the endpoint's hosted zone",
        ),
    ),
    "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint": (
        allow(ec2_new("instance-connect-endpoint"), "ec2:CreateInstanceConnectEndpoint", tag=NEW),
        allow(
            EC2,
            "ec2:CreateInstanceConnectEndpoint",
            "ec2:CreateNetworkInterface",
            "ec2:DeleteInstanceConnectEndpoint",
            tag=OWN,
        ),
        allow(EC2_ENDPOINT_INTERFACES, "ec2:CreateNetworkInterface"),
        allow(READ_ANYWHERE, "ec2:DescribeInstanceConnectEndpoints"),
        *TAGS_EC2,
        _service_linked_role("EC2 Instance Connect"),
    ),
    "aws:ec2/flowLog:FlowLog": (
        allow(ec2_new("vpc-flow-log"), "ec2:CreateFlowLogs", tag=NEW),
        allow(EC2, "ec2:CreateFlowLogs", "ec2:DeleteFlowLogs", tag=OWN),
        allow(READ_ANYWHERE, "ec2:DescribeFlowLogs"),
        *TAGS_EC2,
        allow(
            WRITE_ANYWHERE,
            "logs:CreateLogDelivery",
            "logs:DeleteLogDelivery",
            why="flow logs to S3 are delivered by CloudWatch Logs, set up with the caller's rights",
        ),
    ),
    "aws:ec2/launchTemplate:LaunchTemplate": (
        allow(ec2_new("launch-template"), "ec2:CreateLaunchTemplate", tag=NEW),
        allow(
            EC2,
            "ec2:CreateLaunchTemplateVersion",
            "ec2:ModifyLaunchTemplate",
            "ec2:DeleteLaunchTemplate",
            tag=OWN,
        ),
        allow(READ_ANYWHERE, "ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"),
        *TAGS_EC2,
        allow(
            AMI_PARAMETERS,
            "ssm:GetParameters",
            why="EC2 resolves the template's `resolve:ssm:` image with the caller's rights",
        ),
    ),
    # --------------------------------------------------------------- load balancing (ELBv2)
    "aws:lb/loadBalancer:LoadBalancer": (
        allow(LOAD_BALANCER, "elasticloadbalancing:CreateLoadBalancer", tag=NEW),
        allow(
            LOAD_BALANCER,
            "elasticloadbalancing:DeleteLoadBalancer",
            "elasticloadbalancing:ModifyLoadBalancerAttributes",
            "elasticloadbalancing:SetSecurityGroups",
            "elasticloadbalancing:SetSubnets",
            "elasticloadbalancing:SetIpAddressType",
            tag=OWN,
        ),
        allow(
            READ_ANYWHERE,
            "elasticloadbalancing:DescribeLoadBalancers",
            "elasticloadbalancing:DescribeLoadBalancerAttributes",
            "elasticloadbalancing:DescribeCapacityReservation",
        ),
        *TAGS_ELB,
        READ_ELB_TAGS,
        WAIT_FOR_NETWORK_INTERFACES,
        _service_linked_role("Elastic Load Balancing"),
    ),
    "aws:lb/targetGroup:TargetGroup": (
        allow(LOAD_BALANCER, "elasticloadbalancing:CreateTargetGroup", tag=NEW),
        allow(
            LOAD_BALANCER,
            "elasticloadbalancing:DeleteTargetGroup",
            "elasticloadbalancing:ModifyTargetGroup",
            "elasticloadbalancing:ModifyTargetGroupAttributes",
            tag=OWN,
        ),
        allow(
            READ_ANYWHERE,
            "elasticloadbalancing:DescribeTargetGroups",
            "elasticloadbalancing:DescribeTargetGroupAttributes",
        ),
        *TAGS_ELB,
        READ_ELB_TAGS,
    ),
    # A listener is created on the environment's load balancer, a rule on its listener.
    "aws:lb/listener:Listener": (
        allow(
            LOAD_BALANCER,
            "elasticloadbalancing:CreateListener",
            "elasticloadbalancing:DeleteListener",
            "elasticloadbalancing:ModifyListener",
            tag=OWN,
        ),
        allow(
            READ_ANYWHERE,
            "elasticloadbalancing:DescribeListeners",
            "elasticloadbalancing:DescribeListenerAttributes",
        ),
        *TAGS_ELB,
        READ_ELB_TAGS,
    ),
    "aws:lb/listenerRule:ListenerRule": (
        allow(
            LOAD_BALANCER,
            "elasticloadbalancing:CreateRule",
            "elasticloadbalancing:DeleteRule",
            "elasticloadbalancing:ModifyRule",
            "elasticloadbalancing:SetRulePriorities",
            tag=OWN,
        ),
        allow(READ_ANYWHERE, "elasticloadbalancing:DescribeRules"),
        *TAGS_ELB,
        READ_ELB_TAGS,
    ),
    # ------------------------------------------------------------------------- Auto Scaling
    # components/backend/rollout.py: boto3 calls made during `pulumi up`.
    "pulumi-python:dynamic/backend:Rollout": (
        allow(
            AUTO_SCALING_GROUP,
            "autoscaling:StartInstanceRefresh",
            why="the rollout's instance refresh, to the new launch template version",
        ),
        allow(
            READ_ANYWHERE,
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeInstanceRefreshes",
            why="the group's launch template, and the refresh it waits for",
        ),
        allow(
            ALARMS,
            "cloudwatch:DescribeAlarms",
            why="StartInstanceRefresh reads the alarms of its AlarmSpecification",
        ),
    ),
    "pulumi-python:dynamic/backend:MachineImage": (
        allow(AMI_PARAMETERS, "ssm:GetParameter", why="the AMI id an image parameter names"),
        allow(READ_ANYWHERE, "ec2:DescribeImages", why="the image's root device"),
    ),
    "aws:autoscaling/group:Group": (
        allow(
            AUTO_SCALING_GROUP,
            "autoscaling:CreateAutoScalingGroup",
            "autoscaling:UpdateAutoScalingGroup",
            "autoscaling:DeleteAutoScalingGroup",
            "autoscaling:StartInstanceRefresh",
            "autoscaling:CancelInstanceRefresh",
            "autoscaling:EnableMetricsCollection",
            "autoscaling:DisableMetricsCollection",
            "autoscaling:AttachLoadBalancerTargetGroups",
            "autoscaling:DetachLoadBalancerTargetGroups",
            "autoscaling:AttachTrafficSources",
            "autoscaling:DetachTrafficSources",
            "autoscaling:CreateOrUpdateTags",
            "autoscaling:DeleteTags",
        ),
        allow(
            READ_ANYWHERE,
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeInstanceRefreshes",
            "autoscaling:DescribeScalingActivities",
            "autoscaling:DescribeLoadBalancerTargetGroups",
            "autoscaling:DescribeTrafficSources",
            "autoscaling:DescribeWarmPool",
            "autoscaling:DescribeLifecycleHooks",
            "autoscaling:DescribeTags",
        ),
        # A group using a launch template is checked for launching (and tagging) with it: the
        # instances, volumes and interfaces tagged for the environment (the template's tag
        # specifications), from the environment's template, subnets and security groups.
        allow(
            ec2_new("instance", "volume", "network-interface"),
            "ec2:RunInstances",
            tag=NEW,
            why="a group using a launch template is checked for launching with it",
        ),
        allow(EC2, "ec2:RunInstances", tag=OWN, why="the template, subnets and security groups"),
        allow(EC2_IMAGES, "ec2:RunInstances", why="the template's image"),
        allow(EC2_TAG_ON_CREATE, "ec2:CreateTags", tag=NEW, why="and tagging what it launches"),
        allow(
            PASS_INSTANCE_ROLE,
            "iam:PassRole",
            tag=OWN,
            why="the launch template's instance profile passes the instance role to EC2",
        ),
        allow(
            AMI_PARAMETERS,
            "ssm:GetParameters",
            why="the launch check resolves the template's `resolve:ssm:` image",
        ),
        allow(
            READ_ANYWHERE,
            "elasticloadbalancing:DescribeTargetHealth",
            why="the provider waits until the new instances pass the target group's checks",
        ),
        allow(
            ALARMS,
            "cloudwatch:DescribeAlarms",
            why="an instance refresh checks the alarms that roll it back",
        ),
        _service_linked_role("Auto Scaling"),
    ),
    "aws:autoscaling/policy:Policy": (
        allow(AUTO_SCALING_GROUP, "autoscaling:PutScalingPolicy", "autoscaling:DeletePolicy"),
        allow(READ_ANYWHERE, "autoscaling:DescribePolicies"),
    ),
    # ---------------------------------------------------------------------------------- IAM
    "aws:iam/role:Role": (
        allow(INSTANCE_ROLE_WITHIN_BOUNDARY, "iam:CreateRole", tag=NEW),
        allow(INSTANCE_ROLE_WITHIN_BOUNDARY, "iam:PutRolePermissionsBoundary", tag=OWN),
        allow(
            INSTANCE_ROLE,
            "iam:DeleteRole",
            "iam:GetRole",
            "iam:UpdateRole",
            "iam:UpdateRoleDescription",
            "iam:ListRolePolicies",
            "iam:ListAttachedRolePolicies",
            "iam:ListInstanceProfilesForRole",
            tag=OWN,
        ),
        *tags(INSTANCE_ROLE, "iam:TagRole", "iam:UntagRole"),
    ),
    "aws:iam/instanceProfile:InstanceProfile": (
        allow(INSTANCE_ROLE, "iam:CreateInstanceProfile", tag=NEW),
        allow(
            INSTANCE_ROLE,
            "iam:DeleteInstanceProfile",
            "iam:GetInstanceProfile",
            "iam:AddRoleToInstanceProfile",
            "iam:RemoveRoleFromInstanceProfile",
            tag=OWN,
        ),
        *tags(INSTANCE_ROLE, "iam:TagInstanceProfile", "iam:UntagInstanceProfile"),
        # IAM checks that whoever puts a role into a profile may pass that role.
        allow(PASS_INSTANCE_ROLE, "iam:PassRole", tag=OWN),
    ),
    # The app's reads (its image and secrets by exact ARN). IAM cannot limit what an inline
    # policy grants, so the role must have the boundary, which does.
    "aws:iam/rolePolicy:RolePolicy": (
        allow(INSTANCE_ROLE_WITHIN_BOUNDARY, "iam:PutRolePolicy", "iam:DeleteRolePolicy", tag=OWN),
        allow(INSTANCE_ROLE, "iam:GetRolePolicy", tag=OWN),
    ),
    # Any managed policy, but only onto a role with the boundary, which caps what it grants.
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (
        allow(
            INSTANCE_ROLE_WITHIN_BOUNDARY,
            "iam:AttachRolePolicy",
            "iam:DetachRolePolicy",
            tag=OWN,
        ),
        allow(INSTANCE_ROLE, "iam:ListAttachedRolePolicies", tag=OWN),
    ),
    # --------------------------------------------------------------------------- CloudFront
    # Reading a distribution's config reveals its origin's X-Origin-Verify header: only the
    # environment's own (OWN) for either role.
    "aws:cloudfront/distribution:Distribution": (
        allow(CLOUDFRONT, "cloudfront:CreateDistribution"),
        allow(
            CLOUDFRONT,
            "cloudfront:UpdateDistribution",
            "cloudfront:DeleteDistribution",
            "cloudfront:GetDistribution",
            "cloudfront:GetDistributionConfig",
            tag=OWN,
        ),
        *TAGS_CLOUDFRONT,
        allow(
            WEB_ACL,
            "wafv2:GetWebACL",
            tag=OWN,
            why="CloudFront verifies the caller may read the web ACL it attaches",
        ),
    ),
    "aws:cloudfront/vpcOrigin:VpcOrigin": (
        allow(WRITE_ANYWHERE, "cloudfront:CreateVpcOrigin", tag=NEW),
        allow(
            CLOUDFRONT,
            "cloudfront:UpdateVpcOrigin",
            "cloudfront:DeleteVpcOrigin",
            "cloudfront:GetVpcOrigin",
            tag=OWN,
        ),
        *TAGS_CLOUDFRONT,
        allow(
            READ_ANYWHERE,
            "elasticloadbalancing:DescribeLoadBalancers",
            "ec2:DescribeSubnets",
            "ec2:DescribeSecurityGroups",
            "ec2:DescribeInternetGateways",
            "ec2:DescribeRegions",
            why="CloudFront inspects the load balancer and its network with the caller's rights",
        ),
        _service_linked_role("CloudFront VPC origins"),
    ),
    # ---------------------------------------------------------------------------------- WAF
    "aws:wafv2/webAcl:WebAcl": (
        allow(WEB_ACL, "wafv2:CreateWebACL", tag=NEW),
        allow(
            WEB_ACL,
            "wafv2:UpdateWebACL",
            "wafv2:DeleteWebACL",
            "wafv2:GetWebACL",
            tag=OWN,
        ),
        allow(MANAGED_RULE_SETS, "wafv2:CreateWebACL", "wafv2:UpdateWebACL"),
        *tags(WEB_ACL, "wafv2:TagResource", "wafv2:UntagResource", "wafv2:ListTagsForResource"),
    ),
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": (
        allow(
            WEB_ACL,
            "wafv2:PutLoggingConfiguration",
            "wafv2:DeleteLoggingConfiguration",
            "wafv2:GetLoggingConfiguration",
            tag=OWN,
        ),
        allow(
            WRITE_ANYWHERE,
            "logs:CreateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:PutResourcePolicy",
            why="WAF sets up delivery to the log group, and its resource policy, as the caller",
        ),
        allow(
            READ_ANYWHERE,
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
            why="WAF checks the log group and its resource policy as the caller",
        ),
        _service_linked_role("AWS WAF logging"),
    ),
    # ------------------------------------------------------------------------ CloudWatch Logs
    "aws:cloudwatch/logGroup:LogGroup": (
        allow(WAF_LOG_GROUP, "logs:CreateLogGroup", tag=NEW),
        allow(
            WAF_LOG_GROUP,
            "logs:DeleteLogGroup",
            "logs:PutRetentionPolicy",
            "logs:DeleteRetentionPolicy",
            tag=OWN,
        ),
        *tags(WAF_LOG_GROUP, "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource"),
        allow(READ_ANYWHERE, "logs:DescribeLogGroups"),
    ),
    # CloudFront's standard logging (v2): a source (the distribution), a destination (the log
    # bucket) and the delivery between them. Put* creates or updates, so both grants.
    "aws:cloudwatch/logDeliverySource:LogDeliverySource": (
        allow(LOG_DELIVERY, "logs:PutDeliverySource", tag=NEW),
        allow(
            LOG_DELIVERY,
            "logs:PutDeliverySource",
            "logs:GetDeliverySource",
            "logs:DeleteDeliverySource",
            tag=OWN,
        ),
        allow(READ_ANYWHERE, "logs:DescribeDeliverySources"),
        *TAGS_LOG_DELIVERY,
        allow(
            CLOUDFRONT,
            "cloudfront:AllowVendedLogDeliveryForResource",
            tag=OWN,
            why="CloudFront lets the caller turn on log delivery for its distribution",
        ),
    ),
    "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination": (
        allow(LOG_DELIVERY, "logs:PutDeliveryDestination", tag=NEW),
        allow(
            LOG_DELIVERY,
            "logs:PutDeliveryDestination",
            "logs:GetDeliveryDestination",
            "logs:DeleteDeliveryDestination",
            tag=OWN,
        ),
        allow(READ_ANYWHERE, "logs:DescribeDeliveryDestinations"),
        *TAGS_LOG_DELIVERY,
    ),
    "aws:cloudwatch/logDelivery:LogDelivery": (
        allow(NEW_LOG_DELIVERIES, "logs:CreateDelivery", tag=NEW),
        allow(
            LOG_DELIVERY,
            "logs:CreateDelivery",
            "logs:GetDelivery",
            "logs:DeleteDelivery",
            "logs:UpdateDeliveryConfiguration",
            tag=OWN,
        ),
        allow(READ_ANYWHERE, "logs:DescribeDeliveries"),
        *TAGS_LOG_DELIVERY,
        allow(
            LOG_BUCKET,
            "s3:GetBucketPolicy",
            "s3:PutBucketPolicy",
            why="delivery to S3 checks (and may extend) the bucket's policy as the caller",
        ),
    ),
    # ------------------------------------------------------------------------ ACM, Route 53
    "aws:acm/certificate:Certificate": (
        allow(REQUEST_DNS_VALIDATED_CERTIFICATES, "acm:RequestCertificate", tag=NEW),
        allow(
            CERTIFICATES,
            "acm:DeleteCertificate",
            "acm:DescribeCertificate",
            "acm:RemoveTagsFromCertificate",
            "acm:ListTagsForCertificate",
            tag=OWN,
        ),
        *tags(CERTIFICATES, "acm:AddTagsToCertificate"),
    ),
    "aws:acm/certificateValidation:CertificateValidation": (
        allow(CERTIFICATES, "acm:DescribeCertificate", tag=OWN),
    ),
    "aws:route53/record:Record": (
        allow(RECORD_SETS, "route53:ChangeResourceRecordSets"),
        allow(
            HOSTED_ZONES,
            "route53:ListResourceRecordSets",
            "route53:GetHostedZone",
            "route53:GetChange",
        ),
    ),
    # ----------------------------------------------------------------------- S3 (log bucket)
    "aws:s3/bucket:Bucket": (
        allow(
            LOG_BUCKET,
            "s3:CreateBucket",
            "s3:DeleteBucket",
            "s3:PutBucketTagging",
            # force_destroy empties the bucket before deleting it.
            "s3:ListBucketVersions",
            "s3:DeleteObject",
            "s3:DeleteObjectVersion",
            *S3_BUCKET_READS,
        ),
    ),
    "aws:s3/bucketPolicy:BucketPolicy": (
        allow(LOG_BUCKET, "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:GetBucketPolicy"),
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (
        allow(LOG_BUCKET, "s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": (
        allow(LOG_BUCKET, "s3:PutBucketOwnershipControls", "s3:GetBucketOwnershipControls"),
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        allow(LOG_BUCKET, "s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration"),
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        allow(LOG_BUCKET, "s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration"),
    ),
    # ----------------------------------------------------------------- SNS, CloudWatch alarms
    "aws:sns/topic:Topic": (
        allow(ALARM_TOPICS, "sns:CreateTopic", tag=NEW),
        allow(
            ALARM_TOPICS,
            "sns:DeleteTopic",
            "sns:GetTopicAttributes",
            "sns:SetTopicAttributes",
            tag=OWN,
        ),
        *tags(ALARM_TOPICS, "sns:TagResource", "sns:UntagResource", "sns:ListTagsForResource"),
    ),
    "aws:sns/topicSubscription:TopicSubscription": (
        allow(ALARM_TOPICS, "sns:Subscribe", "sns:ListSubscriptionsByTopic", tag=OWN),
        allow(WRITE_ANYWHERE, "sns:Unsubscribe", "sns:SetSubscriptionAttributes"),
        allow(READ_ANYWHERE, "sns:GetSubscriptionAttributes"),
    ),
    # PutMetricAlarm creates or updates (an update sends no tags), so both grants.
    "aws:cloudwatch/metricAlarm:MetricAlarm": (
        allow(ALARMS, "cloudwatch:PutMetricAlarm", tag=NEW),
        allow(ALARMS, "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", tag=OWN),
        allow(ALARMS, "cloudwatch:DescribeAlarms"),
        *tags(
            ALARMS,
            "cloudwatch:TagResource",
            "cloudwatch:UntagResource",
            "cloudwatch:ListTagsForResource",
        ),
    ),
    "aws:cloudwatch/dashboard:Dashboard": (
        allow(
            DASHBOARDS,
            "cloudwatch:PutDashboard",
            "cloudwatch:GetDashboard",
            "cloudwatch:DeleteDashboards",
        ),
    ),
    # ----------------------------------------------------------- computed in Pulumi, not AWS
    "random:index/randomPassword:RandomPassword": (),
}

INVOKE_PERMISSIONS: dict[str, tuple[Grant, ...]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": (
        allow(READ_ANYWHERE, "ec2:DescribeAvailabilityZones"),
    ),
    "aws:ec2/getInstanceType:getInstanceType": (allow(READ_ANYWHERE, "ec2:DescribeInstanceTypes"),),
    "aws:ec2/getAmi:getAmi": (allow(READ_ANYWHERE, "ec2:DescribeImages"),),
    "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings": (
        allow(READ_ANYWHERE, "ec2:DescribeInstanceTypeOfferings"),
    ),
    "aws:ec2/getManagedPrefixList:getManagedPrefixList": (
        allow(READ_ANYWHERE, "ec2:DescribeManagedPrefixLists"),
        allow(AWS_PREFIX_LISTS, "ec2:GetManagedPrefixListEntries"),
    ),
    "aws:ec2/getSecurityGroup:getSecurityGroup": (
        allow(READ_ANYWHERE, "ec2:DescribeSecurityGroups"),
    ),
    "aws:route53/getZone:getZone": (
        allow(READ_ANYWHERE, "route53:ListHostedZones", "route53:ListHostedZonesByName"),
        allow(HOSTED_ZONES, "route53:GetHostedZone", "route53:ListTagsForResource"),
    ),
    # The provider knows Elastic Load Balancing's log-delivery accounts; AWS is not asked.
    "aws:elb/getServiceAccount:getServiceAccount": (),
    # STS answers GetCallerIdentity for any caller; no policy can deny it.
    "aws:index/getCallerIdentity:getCallerIdentity": (),
}


# --------------------------------------------------------------------------- rendering
def is_read_only(action: str) -> bool:
    return action.split(":", 1)[1].startswith(READ_ONLY_PREFIXES)


def _fill(template: Any, context: Context) -> Any:
    """A template (string, or lists and mappings of them) with the account's values."""
    if isinstance(template, str):
        return template.format(
            partition=context.partition,
            account=context.account,
            project_tag=context.project_tag,
            environment=context.environment,
        )
    if isinstance(template, Mapping):
        return {key: _fill(value, context) for key, value in template.items()}
    return [_fill(item, context) for item in template]


def _resources(scope: Scope, context: Context) -> list[str]:
    """A scope's resources; one per configured zone for a `{hosted_zone}` template."""
    resources = []
    for template in scope.resources:
        zones = context.hosted_zones if "{hosted_zone}" in template else ("",)
        for zone in zones:
            resources.append(_fill(template.replace("{hosted_zone}", zone), context))
    return resources


def _statement(scope: Scope, actions: Iterable[str], context: Context) -> dict[str, Any] | None:
    resources = _resources(scope, context)
    if not resources:
        return None
    statement: dict[str, Any] = {
        "Sid": scope.sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resources[0] if len(resources) == 1 else resources,
    }
    if scope.condition:
        statement["Condition"] = _fill(scope.condition, context)
    return statement


def all_grants() -> list[Grant]:
    return [
        grant
        for grants in (*RESOURCE_PERMISSIONS.values(), *INVOKE_PERMISSIONS.values())
        for grant in grants
    ]


def ec2_create_actions() -> list[str]:
    """The EC2 actions that create tagged resources (ec2:CreateAction of tag-on-create)."""
    return sorted(
        {
            action
            for grant in all_grants()
            if grant.tag == NEW
            for action in grant.actions
            if action.startswith("ec2:") and action != "ec2:CreateTags"
        }
    )


def _merge(*conditions: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for condition in conditions:
        for operator, keys in condition.items():
            merged.setdefault(operator, {}).update(keys)
    return merged


def _tagged_scope(grant: Grant) -> Scope:
    """The grant's scope with its tag condition (and, for EC2's tag-on-create, the actions)."""
    scope = grant.scope
    if scope.sid == "Ec2TagOnCreate":
        scope = Scope(
            scope.sid, scope.resources, {"StringEquals": {"ec2:CreateAction": ec2_create_actions()}}
        )
    if not grant.tag:
        return scope
    suffix, condition = TAG_MODES[grant.tag]
    return Scope(scope.sid + suffix, scope.resources, _merge(scope.condition, condition))


def statements(
    context: Context, keep: Callable[[str], bool] = lambda _action: True
) -> list[dict[str, Any]]:
    """One statement per scope and tag condition holding every kept action granted in it, in a
    stable order."""
    scopes: dict[str, Scope] = {}
    actions: dict[str, set[str]] = {}
    for grant in all_grants():
        scope = _tagged_scope(grant)
        if scopes.setdefault(scope.sid, scope) != scope:
            raise ValueError(f"two scopes are named {scope.sid}")
        actions.setdefault(scope.sid, set()).update(filter(keep, grant.actions))
    rendered = (
        _statement(scopes[sid], actions[sid], context) for sid in sorted(scopes) if actions[sid]
    )
    return [statement for statement in rendered if statement is not None]


# Denied whatever else is attached: removing or editing the boundary, and pointing an instance
# role's trust at another principal.
NEVER_LOOSEN_THE_BOUNDARY = (
    {
        "Sid": "NeverLoosenTheInstanceRoleBoundary",
        "Effect": "Deny",
        "Action": [
            "iam:CreatePolicyVersion",
            "iam:DeletePolicy",
            "iam:DeletePolicyVersion",
            "iam:SetDefaultPolicyVersion",
        ],
        "Resource": INSTANCE_ROLE_BOUNDARY_ARN,
    },
    {
        "Sid": "NeverUnboundOrRetrustAnInstanceRole",
        "Effect": "Deny",
        "Action": ["iam:DeleteRolePermissionsBoundary", "iam:UpdateAssumeRolePolicy"],
        "Resource": INSTANCE_ROLE_ARN,
    },
)


def deploy_statements(context: Context) -> list[dict[str, Any]]:
    """Everything the main program creates, updates, deletes and reads, in any stack."""
    return [*statements(context), *(_fill(deny, context) for deny in NEVER_LOOSEN_THE_BOUNDARY)]


# Everything an instance may do, whatever its role's policies say: pull its image, read its
# parameters and secrets (and decrypt them through those services only). Each statement also
# needs the caller to be an EC2 instance, so a role made to trust anyone else gets nothing.
ON_AN_INSTANCE = {"Null": {"ec2:SourceInstanceARN": "false"}}
INSTANCE_BOUNDARY: tuple[dict[str, Any], ...] = (
    {"Sid": "PullImages", "Effect": "Allow", "Resource": "arn:{partition}:ecr:*:*:repository/*",
     "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer"],
     "Condition": ON_AN_INSTANCE},
    {"Sid": "RegistryLogin", "Effect": "Allow", "Resource": "*",
     "Action": ["ecr:GetAuthorizationToken"], "Condition": ON_AN_INSTANCE},
    {"Sid": "ReadParameters", "Effect": "Allow",
     "Resource": "arn:{partition}:ssm:*:{account}:parameter/*",
     "Action": ["ssm:GetParameter", "ssm:GetParameters"], "Condition": ON_AN_INSTANCE},
    {"Sid": "ReadSecrets", "Effect": "Allow",
     "Resource": "arn:{partition}:secretsmanager:*:{account}:secret:*",
     "Action": ["secretsmanager:GetSecretValue"], "Condition": ON_AN_INSTANCE},
    {"Sid": "DecryptThroughParameterStoreAndSecretsManager", "Effect": "Allow",
     "Resource": "arn:{partition}:kms:*:{account}:key/*", "Action": ["kms:Decrypt"],
     "Condition": {**ON_AN_INSTANCE, "StringLike": {
         "kms:ViaService": ["ssm.*.amazonaws.com", "secretsmanager.*.amazonaws.com"]}}},
)  # fmt: skip


def instance_boundary(context: Context) -> dict[str, Any]:
    """The permissions boundary of every instance role (INSTANCE_ROLE_BOUNDARY)."""
    return document([_fill(statement, context) for statement in INSTANCE_BOUNDARY])


def preview_statements(context: Context) -> list[dict[str, Any]]:
    """What `pulumi preview --refresh` reads: the deploy role's read actions only."""
    return statements(context, keep=is_read_only)


def stack_objects(bucket_arn: str, stacks: Sequence[str], *, writable: bool) -> list[str]:
    """The state objects of `stacks` (and, for a deploy role, of the integration test's copies
    of them, `it-<stack>-...`), in the self-managed backend's project layout: the stack's
    checkpoint (and its `.bak`) under `stacks/`, and its `history/`, `backups/` and `locks/`."""
    names = [*stacks, *(f"it-{stack}-*" for stack in stacks)] if writable else list(stacks)
    objects = []
    for name in names:
        objects.append(f"{bucket_arn}/{STATE_ROOT}/stacks/{MAIN_PROJECT}/{name}.json*")
        if writable:
            objects += [
                f"{bucket_arn}/{STATE_ROOT}/{folder}/{MAIN_PROJECT}/{name}/*"
                for folder in ("history", "backups", "locks")
            ]
    return objects


def state_statements(
    state: StateAccess, stacks: Sequence[str], *, writable: bool
) -> list[dict[str, Any]]:
    """Pulumi's state of one environment's stacks, the bucket's key (only as S3 uses it for
    those objects), and the key of the environment's stack secrets. A preview takes no lock and
    writes no history, so it only reads the checkpoints (pkg/backend/diy/backend.go in
    pulumi/pulumi: Preview never calls Lock)."""
    object_actions = ["s3:GetObject", *(("s3:PutObject", "s3:DeleteObject") if writable else ())]
    bucket_key_actions = ["kms:Decrypt", *(("kms:GenerateDataKey",) if writable else ())]
    secrets_actions = ["kms:Decrypt", *(("kms:Encrypt", "kms:GenerateDataKey") if writable else ())]
    return [
        {"Sid": "StateBucketList", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": state.bucket_arn},
        {"Sid": "StateLayout", "Effect": "Allow", "Action": ["s3:GetObject"],
         "Resource": f"{state.bucket_arn}/{STATE_ROOT}/meta.yaml"},
        {"Sid": "StateObjectsOfTheEnvironmentsStacks", "Effect": "Allow",
         "Action": sorted(object_actions),
         "Resource": stack_objects(state.bucket_arn, stacks, writable=writable)},
        {"Sid": "StateBucketKeyThroughS3", "Effect": "Allow", "Action": sorted(bucket_key_actions),
         "Resource": state.bucket_key_arn, "Condition": through_s3(state)},
        {"Sid": "StackSecretsKeyOfTheEnvironment", "Effect": "Allow",
         "Action": sorted(secrets_actions), "Resource": state.secrets_key_arn},
    ]  # fmt: skip


@dataclass(frozen=True)
class StateAccess:
    """Where one environment's state is: the bucket, its key, and the environment's key."""

    bucket_arn: str
    bucket_key_arn: str
    secrets_key_arn: str
    region: str


def through_s3(state: StateAccess) -> dict[str, Any]:
    """Only as S3 uses the key for this bucket (with a bucket key, the context is the bucket)."""
    return {
        "StringEquals": {"kms:ViaService": f"s3.{state.region}.amazonaws.com"},
        "StringLike": {
            "kms:EncryptionContext:aws:s3:arn": [state.bucket_arn, f"{state.bucket_arn}/*"]
        },
    }


# ------------------------------------------------------------------------- key policies
CI_ROLE_PREFIX = f"{MAIN_PROJECT}-github-"  # every role the bootstrap makes for GitHub
KEY_ADMINISTRATION = (
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey",
    "kms:DisableKey", "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation",
    "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListKeyPolicies",
    "kms:ListKeyRotations", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion", "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)  # fmt: skip
KEY_USE = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom",
           "kms:ReEncryptTo")  # fmt: skip


def ci_role_name(kind: str, environment: str) -> str:
    return f"{CI_ROLE_PREFIX}{kind}-{environment}"


def key_use(
    sid: str, principals: Sequence[str], actions: Sequence[str], condition: Condition | None = None
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"AWS": sorted(principals)},
        "Action": sorted(actions),
        "Resource": "*",
    }
    if condition:
        statement["Condition"] = dict(condition)
    return statement


def key_policy(context: Context, uses: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """An explicit key policy: the account administers the key (IAM policies decide who, and
    can always put a new key policy: the break-glass), its administrators (any principal but
    the CI roles, given an IAM policy that allows it) may use it, and the CI roles only as
    `uses` names them."""
    root = f"arn:{context.partition}:iam::{context.account}:root"
    ci_roles = f"arn:{context.partition}:iam::{context.account}:role/{CI_ROLE_PREFIX}*"
    return document([
        {"Sid": "AccountAdministersTheKey", "Effect": "Allow", "Principal": {"AWS": root},
         "Action": list(KEY_ADMINISTRATION), "Resource": "*"},
        {"Sid": "AdministratorsMayUseTheKey", "Effect": "Allow", "Principal": {"AWS": root},
         "Action": list(KEY_USE), "Resource": "*",
         "Condition": {"ArnNotLike": {"aws:PrincipalArn": ci_roles}}},
        *uses,
    ])  # fmt: skip


def document(statements: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def policy_size(policy: Mapping[str, Any]) -> int:
    """Characters IAM counts against a policy's quota: the JSON without whitespace."""
    return len(json.dumps(policy, separators=(",", ":")))


def documents(
    statements: Sequence[Mapping[str, Any]], limit: int = MANAGED_POLICY_LIMIT
) -> list[dict[str, Any]]:
    """The statements packed into policy documents of at most `limit` characters, each into the
    first document with room (first fit: few documents, and a stable result for the same
    statements; a role takes at most 10 managed policies)."""
    packed: list[list[Mapping[str, Any]]] = []
    for statement in statements:
        if policy_size(document([statement])) > limit:
            raise ValueError(f"statement {statement['Sid']} alone exceeds {limit} characters")
        room = (g for g in packed if policy_size(document([*g, statement])) <= limit)
        group = next(room, None)
        if group is None:
            packed.append(group := [])
        group.append(statement)
    return [document(group) for group in packed]
