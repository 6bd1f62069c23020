"""Network: a VPC with a public and a private subnet in each availability zone.

Public subnets hold the load balancer (and NAT gateways, if any); private subnets hold the
instances. With `NatGateways.NONE` the private subnets have no route to the internet at all:
the backend needs none, and the S3 gateway endpoint (free) still serves the OS package mirrors.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

import pulumi
import pulumi_aws as aws

from components import component_types
from components.security_group_rules import allow_tcp

# The subnet layout is fixed by MAX_AZ_COUNT, not by the zones in use, so adding a zone later
# adds subnets without renumbering (and so replacing) the existing ones.
MIN_AZ_COUNT = 2  # an ALB needs subnets in two zones
MAX_AZ_COUNT = 4
SUBNET_SLOTS = 2 * MAX_AZ_COUNT  # public subnets take slots 0..3, private subnets 4..7
SMALLEST_SUBNET_PREFIX = 27  # an ALB subnet must be a /27 or larger
SLOT_BITS = (SUBNET_SLOTS - 1).bit_length()
LARGEST_VPC_PREFIX = SMALLEST_SUBNET_PREFIX - SLOT_BITS  # /24
SMALLEST_VPC_PREFIX = 16  # AWS allows /16 to /28


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
    availability_zones: tuple[str, ...]
    nat_gateways: NatGateways
    region: str
    interface_endpoints: tuple[str, ...] = ()  # of INTERFACE_ENDPOINT_SERVICES


@dataclass(frozen=True)
class NetworkArgs:
    settings: NetworkSettings
    flow_log_destination: pulumi.Input[str] | None = None  # an S3 ARN (bucket/prefix/); None: off


@dataclass(frozen=True)
class SubnetPair:
    availability_zone: str
    public_cidr: str
    private_cidr: str


def subnet_layout(vpc_cidr: str, availability_zones: tuple[str, ...]) -> list[SubnetPair]:
    """The public and private subnet CIDRs of each zone, carved from the VPC's CIDR."""
    slots = list(ipaddress.IPv4Network(vpc_cidr).subnets(prefixlen_diff=SLOT_BITS))
    return [
        SubnetPair(
            availability_zone=zone,
            public_cidr=str(slots[index]),
            private_cidr=str(slots[MAX_AZ_COUNT + index]),
        )
        for index, zone in enumerate(availability_zones)
    ]


FLOW_LOG_AGGREGATION_SECONDS = 600


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
            for pair in subnet_layout(settings.vpc_cidr, settings.availability_zones)
        ]
        self._nat_routes(settings.nat_gateways, zones, internet_gateway)
        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{settings.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[zone.private_routes.id for zone in zones],
            tags={"Name": f"{name}-s3"},
            opts=self._child,
        )

        if settings.interface_endpoints:
            self._interface_endpoints(vpc, settings, zones)

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
        name, child, zone = self._name, self._child, pair.availability_zone
        suffix = zone[-1]  # us-east-1a -> a
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
        self, vpc: aws.ec2.Vpc, settings: NetworkSettings, zones: list[_Zone]
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
                tags={"Name": f"{name}-{service}"},
                opts=self._child,
            )
