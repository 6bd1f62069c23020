"""Network: the VPC, subnets, routes and NAT options exactly as AWS receives them."""

from __future__ import annotations

import functools
import ipaddress
import json

import pulumi
import pytest

from components.network import (
    AvailabilityZone,
    NatGateways,
    Network,
    NetworkArgs,
    NetworkSettings,
    SubnetLayout,
    has_zone_slot,
)
from tests.harness import ACCOUNT_ID, Resource, Run, run_pulumi, zone_ids

TWO_ZONES = ("us-east-1a", "us-east-1b")
THREE_ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def zones_named(names: tuple[str, ...]) -> tuple[AvailabilityZone, ...]:
    """Zones as the mocks map them: us-east-1a is use1-az1, us-east-1b use1-az2, ..."""
    return tuple(map(AvailabilityZone, names, zone_ids(list(names))))


@functools.cache  # a run is deterministic and tests only read it
def build(
    zones: tuple[str, ...] = TWO_ZONES,
    nat: NatGateways = NatGateways.NONE,
    cidr: str = "10.0.0.0/16",
    endpoints: tuple[str, ...] = (),
    layout: SubnetLayout = SubnetLayout.ZONE_ID,
) -> Run:
    def program() -> None:
        settings = NetworkSettings(
            vpc_cidr=cidr,
            availability_zones=zones_named(zones),
            nat_gateways=nat,
            region="us-east-1",
            interface_endpoints=endpoints,
            subnet_layout=layout,
        )
        network = Network("network", NetworkArgs(settings))
        pulumi.export("vpc_id", network.vpc_id)
        pulumi.export("public_subnet_ids", network.public_subnet_ids)
        pulumi.export("private_subnet_ids", network.private_subnet_ids)

    return run_pulumi(program, {})


def subnets(run: Run, tier: str) -> list[Resource]:
    return [
        s for s in run.of_type("aws:ec2/subnet:Subnet") if s.name.startswith(f"network-{tier}-")
    ]


def test_vpc_has_dns_support_and_hostnames() -> None:
    vpc = build().one("aws:ec2/vpc:Vpc")

    assert vpc.inputs["cidrBlock"] == "10.0.0.0/16"
    assert vpc.inputs["enableDnsSupport"] is True
    assert vpc.inputs["enableDnsHostnames"] is True


@pytest.mark.parametrize("zones", [TWO_ZONES, THREE_ZONES])
def test_one_public_and_one_private_subnet_per_zone(zones: tuple[str, ...]) -> None:
    run = build(zones)

    for tier in ("public", "private"):
        assert sorted(s.inputs["availabilityZone"] for s in subnets(run, tier)) == list(zones)
    assert all(s.inputs["vpcId"] == "network-vpc-id" for s in subnets(run, "public"))


def test_subnet_cidrs_are_carved_from_the_vpc_without_overlap() -> None:
    run = build(THREE_ZONES, cidr="10.20.0.0/16")

    vpc = ipaddress.IPv4Network("10.20.0.0/16")
    cidrs = [
        ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in run.of_type("aws:ec2/subnet:Subnet")
    ]
    assert len(cidrs) == 6
    assert all(cidr.subnet_of(vpc) for cidr in cidrs)
    assert all(not a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1 :])
    by_zone = {s.inputs["availabilityZone"]: s.inputs["cidrBlock"] for s in subnets(run, "public")}
    assert by_zone == {
        "us-east-1a": "10.20.0.0/20",
        "us-east-1b": "10.20.16.0/20",
        "us-east-1c": "10.20.32.0/20",
    }
    by_zone = {s.inputs["availabilityZone"]: s.inputs["cidrBlock"] for s in subnets(run, "private")}
    assert by_zone == {
        "us-east-1a": "10.20.128.0/20",
        "us-east-1b": "10.20.144.0/20",
        "us-east-1c": "10.20.160.0/20",
    }


def layout_of(run: Run) -> dict[str, str]:
    return {s.name: s.inputs["cidrBlock"] for s in run.of_type("aws:ec2/subnet:Subnet")}


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (TWO_ZONES, THREE_ZONES),  # a zone added
        (THREE_ZONES, ("us-east-1b", "us-east-1c")),  # the first zone removed
        (("us-east-1a", "us-east-1b", "us-east-1d"), ("us-east-1b", "us-east-1c", "us-east-1d")),
        (("us-east-1b", "us-east-1a"), TWO_ZONES),  # the same zones in another order
    ],
)
def test_a_zone_that_stays_keeps_its_subnets_cidrs(
    before: tuple[str, ...], after: tuple[str, ...]
) -> None:
    old, new = layout_of(build(before)), layout_of(build(after))

    kept = old.keys() & new.keys()
    assert kept, "the two zone choices share no zone"
    assert {name: new[name] for name in kept} == {name: old[name] for name in kept}
    # Pulumi creates a new subnet before deleting an old one: a new CIDR may not be one in use.
    added = {new[name] for name in new.keys() - old.keys()}
    assert not added & set(old.values())


def test_subnet_slots_follow_the_zone_id_not_the_zone_name() -> None:
    """In another account us-east-1a may be use1-az4: its subnets then take az4's slots."""

    def program() -> None:
        zones = (
            AvailabilityZone("us-east-1a", "use1-az4"),
            AvailabilityZone("us-east-1b", "use1-az1"),
        )
        Network(
            "network",
            NetworkArgs(NetworkSettings("10.0.0.0/16", zones, NatGateways.NONE, "us-east-1")),
        )

    assert layout_of(run_pulumi(program, {})) == {
        "network-public-a": "10.0.48.0/20",
        "network-private-a": "10.0.176.0/20",
        "network-public-b": "10.0.0.0/20",
        "network-private-b": "10.0.128.0/20",
    }


def test_position_layout_keeps_the_subnets_of_stacks_created_before_zone_ids() -> None:
    """Earlier versions numbered subnets by position: eight slots, public 0..3, private 4..7."""
    run = build(THREE_ZONES, cidr="10.20.0.0/16", layout=SubnetLayout.POSITION)

    assert layout_of(run) == {
        "network-public-a": "10.20.0.0/19",
        "network-private-a": "10.20.128.0/19",
        "network-public-b": "10.20.32.0/19",
        "network-private-b": "10.20.160.0/19",
        "network-public-c": "10.20.64.0/19",
        "network-private-c": "10.20.192.0/19",
    }


@pytest.mark.parametrize(
    ("zone_id", "slotted"),
    [("use1-az1", True), ("use1-az8", True), ("use1-az9", False), ("use1-az", False)],
)
def test_zone_ids_with_a_subnet_slot(zone_id: str, slotted: bool) -> None:
    assert has_zone_slot(zone_id) is slotted


def test_smallest_vpc_still_gives_alb_sized_subnets() -> None:
    run = build(("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1f"), cidr="10.1.2.0/23")

    prefixes = {
        ipaddress.IPv4Network(s.inputs["cidrBlock"]).prefixlen
        for s in run.of_type("aws:ec2/subnet:Subnet")
    }
    assert prefixes == {27}


def test_no_subnet_assigns_public_ips() -> None:
    run = build()

    assert [s.inputs["mapPublicIpOnLaunch"] for s in run.of_type("aws:ec2/subnet:Subnet")] == [
        False
    ] * 4


def test_public_subnets_route_to_the_internet_gateway() -> None:
    run = build()

    igw = run.one("aws:ec2/internetGateway:InternetGateway")
    public_table = run.named("network-public-rt")
    assert igw.inputs["vpcId"] == "network-vpc-id"
    assert public_table.inputs["routes"] == [
        {"cidrBlock": "0.0.0.0/0", "gatewayId": "network-igw-id"}
    ]
    associations = {
        a.inputs["subnetId"]: a.inputs["routeTableId"]
        for a in run.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    }
    for subnet in subnets(run, "public"):
        assert associations[subnet.outputs["id"]] == "network-public-rt-id"


def private_tables(run: Run) -> dict[str, Resource]:
    """Each private subnet's zone -> the route table associated with it."""
    associations = {
        a.inputs["subnetId"]: a.inputs["routeTableId"]
        for a in run.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")
    }
    return {
        s.inputs["availabilityZone"]: run.by_id(associations[s.outputs["id"]])
        for s in subnets(run, "private")
    }


def test_without_nat_private_subnets_have_no_internet_route() -> None:
    run = build(nat=NatGateways.NONE)

    assert run.of_type("aws:ec2/natGateway:NatGateway") == []
    assert run.of_type("aws:ec2/eip:Eip") == []
    assert run.of_type("aws:ec2/route:Route") == []
    tables = private_tables(run)
    assert len({t.name for t in tables.values()}) == 2  # one table per zone
    assert all("routes" not in t.inputs for t in tables.values())


def test_single_nat_serves_every_zone() -> None:
    run = build(THREE_ZONES, nat=NatGateways.SINGLE)

    nat = run.one("aws:ec2/natGateway:NatGateway")
    eip = run.one("aws:ec2/eip:Eip")
    assert eip.inputs["domain"] == "vpc"
    assert nat.inputs["allocationId"] == eip.outputs["allocationId"]
    assert run.by_id(nat.inputs["subnetId"]) in subnets(run, "public")
    routes = run.of_type("aws:ec2/route:Route")
    assert sorted(r.inputs["routeTableId"] for r in routes) == sorted(
        t.outputs["id"] for t in private_tables(run).values()
    )
    assert {r.inputs["natGatewayId"] for r in routes} == {nat.outputs["id"]}
    assert {r.inputs["destinationCidrBlock"] for r in routes} == {"0.0.0.0/0"}


def test_nat_per_zone_keeps_each_zone_on_its_own_nat() -> None:
    run = build(THREE_ZONES, nat=NatGateways.PER_AZ)

    nats = run.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == 3
    assert len(run.of_type("aws:ec2/eip:Eip")) == 3
    route_by_table = {r.inputs["routeTableId"]: r for r in run.of_type("aws:ec2/route:Route")}
    for zone, table in private_tables(run).items():
        nat = run.by_id(route_by_table[table.outputs["id"]].inputs["natGatewayId"])
        nat_subnet = run.by_id(nat.inputs["subnetId"])
        assert nat_subnet in subnets(run, "public")
        assert nat_subnet.inputs["availabilityZone"] == zone


@pytest.mark.parametrize("nat", list(NatGateways))
def test_nat_mode_changes_routes_only_never_tables_or_subnets(nat: NatGateways) -> None:
    def fixed_parts(run: Run) -> dict[str, object]:
        keep = (
            "aws:ec2/subnet:Subnet",
            "aws:ec2/routeTable:RouteTable",
            "aws:ec2/routeTableAssociation:RouteTableAssociation",
        )
        return {r.name: r.inputs for r in run.resources if r.type in keep}

    assert fixed_parts(build(nat=nat)) == fixed_parts(build(nat=NatGateways.NONE))


def test_free_s3_gateway_endpoint_on_the_private_route_tables() -> None:
    run = build(THREE_ZONES)

    endpoint = run.one("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-east-1.s3"
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    assert sorted(endpoint.inputs["routeTableIds"]) == sorted(
        t.outputs["id"] for t in private_tables(run).values()
    )


def test_default_security_group_is_stripped_of_all_rules() -> None:
    group = build().one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")

    assert group.inputs["vpcId"] == "network-vpc-id"
    assert group.inputs["ingress"] == []
    assert group.inputs["egress"] == []


def test_outputs_name_the_vpc_and_subnets_in_zone_order() -> None:
    run = build(THREE_ZONES)

    assert run.exports["vpc_id"] == "network-vpc-id"
    assert run.exports["public_subnet_ids"] == [f"network-public-{z}-id" for z in "abc"]
    assert run.exports["private_subnet_ids"] == [f"network-private-{z}-id" for z in "abc"]


def test_interface_endpoints_serve_the_private_subnets_with_private_dns() -> None:
    run = build(endpoints=("ecr.api", "ecr.dkr"))
    group = run.named("network-endpoints-sg")
    private = [s.outputs["id"] for s in subnets(run, "private")]
    endpoints = {
        e.inputs["serviceName"]: e.inputs
        for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e.inputs["vpcEndpointType"] == "Interface"
    }

    assert set(endpoints) == {"com.amazonaws.us-east-1.ecr.api", "com.amazonaws.us-east-1.ecr.dkr"}
    for inputs in endpoints.values():
        assert inputs["privateDnsEnabled"] is True
        assert sorted(inputs["subnetIds"]) == sorted(private)
        assert inputs["securityGroupIds"] == [group.outputs["id"]]
    [rule] = [
        r
        for r in run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.inputs["securityGroupId"] == group.outputs["id"]
    ]
    assert (rule.inputs["fromPort"], rule.inputs["toPort"], rule.inputs["cidrIpv4"]) == (
        443,
        443,
        "10.0.0.0/16",
    )


def test_no_interface_endpoint_costs_anything_unless_asked() -> None:
    run = build()

    assert [
        e.inputs["vpcEndpointType"] for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    ] == ["Gateway"]


def test_the_s3_endpoint_reaches_the_os_and_ecr_buckets_and_this_accounts_only() -> None:
    """What the instances fetch through it: dnf (Docker included) from Amazon Linux's
    repository bucket, image layers from ECR's; any other account's bucket is refused."""
    endpoint = build().one("aws:ec2/vpcEndpoint:VpcEndpoint")

    assert json.loads(endpoint.inputs["policy"])["Statement"] == [
        {
            "Sid": "AmazonLinuxPackagesAndEcrLayers",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": [
                "arn:aws:s3:::al2023-repos-us-east-1-de612dc2/*",
                "arn:aws:s3:::prod-us-east-1-starport-layer-bucket/*",
            ],
        },
        {
            "Sid": "ThisAccountsBuckets",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceAccount": ACCOUNT_ID}},
        },
    ]


def test_interface_endpoints_serve_this_accounts_principals_only() -> None:
    run = build(endpoints=("ecr.api", "secretsmanager"))
    interface = [
        e
        for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e.inputs["vpcEndpointType"] == "Interface"
    ]

    assert len(interface) == 2
    for endpoint in interface:
        [statement] = json.loads(endpoint.inputs["policy"])["Statement"]
        assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": ACCOUNT_ID}}
        assert (statement["Effect"], statement["Principal"]) == ("Allow", "*")
