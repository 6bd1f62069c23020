"""Network: a VPC with a public and a private subnet in each availability zone.

Public subnets hold the load balancer (and NAT gateways, if any); private subnets hold the
instances. With `NatGateways.NONE` the private subnets have no route to the internet at all:
the backend needs none, and the S3 gateway endpoint (free) still serves the OS package mirrors.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_aws as aws

from components import component_types
from components.security_group_rules import allow_tcp

MIN_AZ_COUNT = 2  # an ALB needs subnets in two zones
MAX_AZ_COUNT = 4
# A subnet's CIDR belongs to its zone, never to the zone's place in a list: the public subnet of
# zone id <region>-az<N> takes slot N-1, its private subnet slot ZONE_SLOTS+N-1. Adding or
# removing a zone then adds or removes only that zone's subnets, and the others keep their CIDRs
# (a renumbered subnet is a replacement whose new CIDR collides with a subnet still there).
ZONE_SLOTS = 8  # zone numbers az1..az8; no region has more than six today
SUBNET_SLOTS = 2 * ZONE_SLOTS
SMALLEST_SUBNET_PREFIX = 27  # an ALB subnet must be a /27 or larger
SLOT_BITS = (SUBNET_SLOTS - 1).bit_length()
LARGEST_VPC_PREFIX = SMALLEST_SUBNET_PREFIX - SLOT_BITS  # /23
SMALLEST_VPC_PREFIX = 16  # AWS allows /16 to /28
# The layout of stacks created before subnets were numbered by zone id: slots by the zone's
# position (public 0..3, private 4..7 of eight), kept so those stacks' subnets stay where they are.
POSITION_SLOT_BITS = 3
POSITION_LARGEST_VPC_PREFIX = SMALLEST_SUBNET_PREFIX - POSITION_SLOT_BITS  # /24


class SubnetLayout(StrEnum):
    """How subnet CIDRs are numbered (subnetLayout)."""

    ZONE_ID = "zoneId"  # by the zone id's number: a zone's subnets never move
    POSITION = "position"  # by position in availabilityZones: the layout of older stacks


@dataclass(frozen=True)
class AvailabilityZone:
    name: str  # e.g. us-east-1a: this account's label, mapped to a different zone per account
    id: str  # e.g. use1-az1: the physical zone, the same in every account

    @property
    def number(self) -> int:
        """use1-az4 -> 4: the zone's number within its region, which picks its subnet slots."""
        return int(self.id.rsplit("-az", maxsplit=1)[1])

    @property
    def suffix(self) -> str:
        """us-east-1a -> a: names the zone's resources (stable: a name maps to one zone id)."""
        return self.name[-1]


def has_zone_slot(zone_id: str) -> bool:
    """Whether a zone id has the <region>-az<N> form with a slot of its own (N <= ZONE_SLOTS)."""
    region_code, separator, number = zone_id.rpartition("-az")
    return bool(region_code and separator and number.isdigit() and 1 <= int(number) <= ZONE_SLOTS)


class NatGateways(StrEnum):
    """How the private subnets reach the internet."""

    NONE = "none"  # no internet route: free, and the backend needs none
    SINGLE = "single"  # one NAT gateway shared by every zone
    PER_AZ = "perAz"  # one per zone, so losing a zone never cuts the others off


# Interface endpoints a stack may add (vpcEndpoints): what the instances may need from AWS
# without a NAT gateway, beyond S3.
INTERFACE_ENDPOINT_SERVICES = (
    "ecr.api", "ecr.dkr", "ssm", "ssmmessages", "ec2messages", "logs", "secretsmanager", "sts",
    "kms",
)  # fmt: skip


@dataclass(frozen=True)
class NetworkSettings:
    vpc_cidr: str
    availability_zones: tuple[AvailabilityZone, ...]
    nat_gateways: NatGateways
    region: str
    interface_endpoints: tuple[str, ...] = ()  # of INTERFACE_ENDPOINT_SERVICES
    subnet_layout: SubnetLayout = SubnetLayout.ZONE_ID


@dataclass(frozen=True)
class NetworkArgs:
    settings: NetworkSettings
    flow_log_destination: pulumi.Input[str] | None = None  # an S3 ARN (bucket/prefix/); None: off


@dataclass(frozen=True)
class SubnetPair:
    zone: AvailabilityZone
    public_cidr: str
    private_cidr: str


def subnet_layout(
    vpc_cidr: str,
    zones: tuple[AvailabilityZone, ...],
    layout: SubnetLayout = SubnetLayout.ZONE_ID,
) -> list[SubnetPair]:
    """The public and private subnet CIDRs of each zone, carved from the VPC's CIDR."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    if layout is SubnetLayout.POSITION:
        slots = list(vpc.subnets(prefixlen_diff=POSITION_SLOT_BITS))
        return [
            SubnetPair(zone, str(slots[index]), str(slots[MAX_AZ_COUNT + index]))
            for index, zone in enumerate(zones)
        ]
    slots = list(vpc.subnets(prefixlen_diff=SLOT_BITS))
    return [
        SubnetPair(zone, str(slots[zone.number - 1]), str(slots[ZONE_SLOTS + zone.number - 1]))
        for zone in zones
    ]


FLOW_LOG_AGGREGATION_SECONDS = 600
# AWS-owned buckets the instances read through the S3 gateway endpoint: Amazon Linux 2023's
# package repositories (dnf, Docker) and the layers of ECR images.
AMAZON_LINUX_REPOSITORY_BUCKET = "al2023-repos-{region}-de612dc2"
ECR_LAYER_BUCKET = "prod-{region}-starport-layer-bucket"


def s3_endpoint_policy(region: str, account_id: str) -> dict[str, Any]:
    """What the private subnets may reach in S3: the OS and ECR buckets above, and this
    account's own buckets; no other account's bucket (a path out for data)."""
    aws_buckets = [
        f"arn:aws:s3:::{bucket.format(region=region)}/*"
        for bucket in (AMAZON_LINUX_REPOSITORY_BUCKET, ECR_LAYER_BUCKET)
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AmazonLinuxPackagesAndEcrLayers",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": aws_buckets,
            },
            {
                "Sid": "ThisAccountsBuckets",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceAccount": account_id}},
            },
        ],
    }


def interface_endpoint_policy(account_id: str) -> dict[str, Any]:
    """An interface endpoint serves this account's principals only: credentials of another
    account (an exfiltration path) are refused at the endpoint."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ThisAccountsPrincipals",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": account_id}},
            }
        ],
    }


@dataclass(frozen=True)
class _Zone:
    """One zone's subnets and the private subnet's route table."""

    suffix: str  # us-east-1a -> a: names its resources
    public_subnet: aws.ec2.Subnet
    public_association: aws.ec2.RouteTableAssociation
    private_subnet: aws.ec2.Subnet
    private_routes: aws.ec2.RouteTable


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        args: NetworkArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(component_types.NETWORK, name, None, opts)
        settings = args.settings
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=settings.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={"Name": f"{name}-vpc"},
            opts=self._child,
        )
        if args.flow_log_destination is not None:
            aws.ec2.FlowLog(
                f"{name}-flow-log",
                vpc_id=vpc.id,
                traffic_type="ALL",
                log_destination_type="s3",
                log_destination=args.flow_log_destination,
                max_aggregation_interval=FLOW_LOG_AGGREGATION_SECONDS,
                opts=self._child,
            )
        # Adopting the default security group with no rules strips the allow-all rules AWS
        # creates (FSBP EC2.2); nothing here uses it.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], opts=self._child
        )
        internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{name}-igw"}, opts=self._child
        )
        public_routes = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[
                aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=internet_gateway.id)
            ],
            tags={"Name": f"{name}-public"},
            opts=self._child,
        )
        zones = [
            self._zone(vpc, public_routes, pair)
            for pair in subnet_layout(
                settings.vpc_cidr, settings.availability_zones, settings.subnet_layout
            )
        ]
        self._nat_routes(settings.nat_gateways, zones, internet_gateway)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{settings.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[zone.private_routes.id for zone in zones],
            policy=account.account_id.apply(
                lambda account_id: json.dumps(s3_endpoint_policy(settings.region, account_id))
            ),
            tags={"Name": f"{name}-s3"},
            opts=self._child,
        )

        if settings.interface_endpoints:
            self._interface_endpoints(vpc, settings, zones, account.account_id)

        self.vpc_id = vpc.id
        # A public subnet is usable once it routes to the attached internet gateway: an
        # internet-facing ALB created earlier fails (InvalidSubnet), and one destroyed later
        # blocks the gateway's detachment. Its users wait for both, and are destroyed first.
        self.public_subnet_ids = [
            pulumi.Output.all(
                zone.public_subnet.id, internet_gateway.id, zone.public_association.id
            ).apply(lambda values: str(values[0]))
            for zone in zones
        ]
        self.private_subnet_ids = [zone.private_subnet.id for zone in zones]
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
            }
        )

    def _zone(self, vpc: aws.ec2.Vpc, public_routes: aws.ec2.RouteTable, pair: SubnetPair) -> _Zone:
        name, child = self._name, self._child
        zone, suffix = pair.zone.name, pair.zone.suffix
        public = aws.ec2.Subnet(
            f"{name}-public-{suffix}",
            vpc_id=vpc.id,
            cidr_block=pair.public_cidr,
            availability_zone=zone,
            # Nothing here needs a public IP: the ALB gets its own, instances are private.
            map_public_ip_on_launch=False,
            tags={"Name": f"{name}-public-{zone}"},
            opts=child,
        )
        public_association = aws.ec2.RouteTableAssociation(
            f"{name}-public-rta-{suffix}",
            subnet_id=public.id,
            route_table_id=public_routes.id,
            opts=child,
        )
        private = aws.ec2.Subnet(
            f"{name}-private-{suffix}",
            vpc_id=vpc.id,
            cidr_block=pair.private_cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags={"Name": f"{name}-private-{zone}"},
            opts=child,
        )
        # One route table per zone in every NAT mode, so switching modes changes routes only,
        # never the tables or their associations.
        private_routes = aws.ec2.RouteTable(
            f"{name}-private-rt-{suffix}",
            vpc_id=vpc.id,
            tags={"Name": f"{name}-private-{zone}"},
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-private-rta-{suffix}",
            subnet_id=private.id,
            route_table_id=private_routes.id,
            opts=child,
        )
        return _Zone(suffix, public, public_association, private, private_routes)

    def _nat_routes(
        self,
        nat_gateways: NatGateways,
        zones: list[_Zone],
        internet_gateway: aws.ec2.InternetGateway,
    ) -> None:
        """none: no NAT; single: one in the first zone for all; perAz: each zone its own."""
        name = self._name
        nat_zones = {NatGateways.NONE: 0, NatGateways.SINGLE: 1}.get(nat_gateways, len(zones))
        nat_gateway_ids: list[pulumi.Output[str]] = []
        for zone in zones[:nat_zones]:
            address = aws.ec2.Eip(
                f"{name}-nat-ip-{zone.suffix}",
                domain="vpc",
                tags={"Name": f"{name}-nat-{zone.suffix}"},
                opts=self._child,
            )
            nat = aws.ec2.NatGateway(
                f"{name}-nat-{zone.suffix}",
                subnet_id=zone.public_subnet.id,
                allocation_id=address.allocation_id,
                connectivity_type="public",
                tags={"Name": f"{name}-nat-{zone.suffix}"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[internet_gateway]),
            )
            nat_gateway_ids.append(nat.id)
        if not nat_gateway_ids:
            return
        for index, zone in enumerate(zones):
            aws.ec2.Route(
                f"{name}-private-default-{zone.suffix}",
                route_table_id=zone.private_routes.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat_gateway_ids[index % len(nat_gateway_ids)],
                opts=self._child,
            )

    def _interface_endpoints(
        self,
        vpc: aws.ec2.Vpc,
        settings: NetworkSettings,
        zones: list[_Zone],
        account_id: pulumi.Output[str],
    ) -> None:
        """AWS APIs inside the VPC, for private subnets without NAT: private DNS makes the
        services' usual names resolve to these endpoints, so nothing on the instances changes."""
        name = self._name
        group = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=vpc.id,
            description="Interface endpoints: HTTPS from the VPC only",
            opts=self._child,
        )
        allow_tcp(
            aws.vpc.SecurityGroupIngressRule,
            f"{name}-endpoints-from-vpc",
            security_group_id=group.id,
            port=443,
            description="HTTPS from the VPC",
            cidr_ipv4=settings.vpc_cidr,
            opts=self._child,
        )
        for service in settings.interface_endpoints:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{settings.region}.{service}",
                vpc_endpoint_type="Interface",
                subnet_ids=[zone.private_subnet.id for zone in zones],
                security_group_ids=[group.id],
                private_dns_enabled=True,
                policy=account_id.apply(
                    lambda account: json.dumps(interface_endpoint_policy(account))
                ),
                tags={"Name": f"{name}-{service}"},
                opts=self._child,
            )
