"""Stack settings: every stack file loads, and every bad value is refused before any resource."""

from __future__ import annotations

from typing import Any

import pytest

from components.alb_origin import OriginAccess
from components.dns import DomainSettings
from components.edge_firewall import EdgeFirewallSettings
from components.front_door import PriceClass
from components.log_bucket import LogBucketSettings
from components.network import NatGateways
from components.operations import OperationsSettings
from stack_settings import SettingsError, StackSettings, load_settings
from tests.harness import (
    HOSTED_ZONES,
    INSTANCE_TYPE_TOKEN,
    OFFERINGS_TOKEN,
    PROJECT_DIR,
    US_EAST_1_ZONES,
    ZONE_TOKEN,
    run_main_failing,
    run_pulumi,
    stack_config,
    with_overrides,
)


def load(config: dict[str, str], zones: list[str] | None = None) -> StackSettings:
    loaded: list[StackSettings] = []
    run_pulumi(lambda: loaded.append(load_settings()), config, zones=zones)
    return loaded[0]


def zone_names(settings: StackSettings) -> tuple[str, ...]:
    return tuple(zone.name for zone in settings.network.availability_zones)


def test_dev_stack_is_the_small_cheap_one(dev_config: dict[str, str]) -> None:
    settings = load(dev_config)

    assert settings.network.vpc_cidr == "10.0.0.0/16"
    assert zone_names(settings) == ("us-east-1a", "us-east-1b")
    assert settings.network.nat_gateways is NatGateways.NONE
    assert settings.network.region == "us-east-1"
    assert settings.backend.instance_type == "t4g.nano"
    assert settings.backend.architecture == "arm64"
    assert (settings.backend.min_size, settings.backend.desired_capacity) == (1, 1)
    assert settings.backend.max_size == 2
    assert settings.backend.app_port == 8080
    assert settings.backend.health_check_path == "/health"
    assert settings.backend.deletion_protection is False
    assert settings.backend.origin_access is OriginAccess.PUBLIC_ALB
    assert settings.backend.instance_tags == {
        "Project": "cdn-alb-backend",
        "Environment": "dev",
        "ManagedBy": "pulumi",
    }
    assert settings.front_door.price_class is PriceClass.NORTH_AMERICA_EUROPE
    assert settings.firewall is None
    assert settings.logs is None
    assert settings.domain is None


def test_prod_stack_spans_three_zones_with_headroom() -> None:
    settings = load(stack_config("prod"))

    # The mocks map us-east-1c to use1-az3, which offers no Graviton (t4g) instances.
    assert zone_names(settings) == ("us-east-1a", "us-east-1b", "us-east-1d")
    assert settings.network.vpc_cidr == "10.20.0.0/16"
    assert settings.backend.instance_type == "t4g.small"
    assert (settings.backend.min_size, settings.backend.desired_capacity) == (3, 3)
    assert settings.backend.max_size == 9
    assert settings.backend.deletion_protection is True
    assert settings.backend.instance_tags["Environment"] == "prod"
    assert settings.front_door.price_class is PriceClass.ALL
    assert settings.firewall == EdgeFirewallSettings(
        rate_limit=2000, log_retention_days=90, log_all_requests=False
    )
    assert settings.logs == LogBucketSettings(retention_days=90, flow_logs=True, region="us-east-1")


def test_vpc_origin_makes_the_alb_internal(dev_config: dict[str, str]) -> None:
    settings = load(with_overrides(dev_config, {"originAccess": "vpcOrigin"}))

    assert settings.backend.origin_access is OriginAccess.VPC_ORIGIN
    assert settings.backend.internal_alb is True


def test_staging_previews_anywhere_and_shows_how_to_serve_a_custom_domain() -> None:
    settings = load(stack_config("staging"))
    stack_file = (PROJECT_DIR / "Pulumi.staging.yaml").read_text()

    assert settings.domain is None
    assert settings.network.region == "eu-west-1"
    assert zone_names(settings) == ("eu-west-1a", "eu-west-1b")
    assert "# cdn-alb-backend:domainName: api.example.com" in stack_file
    assert "# cdn-alb-backend:hostedZoneName: example.com" in stack_file
    assert "uncomment the two domain keys" in stack_file


def test_custom_domain_carries_its_hosted_zone_id(dev_config: dict[str, str]) -> None:
    loaded: list[StackSettings] = []
    run = run_pulumi(
        lambda: loaded.append(load_settings()),
        with_overrides(dev_config, {"domainName": "api.example.com"}),
    )

    assert loaded[0].domain == DomainSettings(
        domain_name="api.example.com",
        hosted_zone_name="example.com",
        hosted_zone_id=HOSTED_ZONES["example.com"],
    )
    [lookup] = [i for i in run.invokes if i.token == ZONE_TOKEN]
    assert lookup.args == {"name": "example.com", "privateZone": False}


@pytest.mark.parametrize(
    ("domain", "zone"),
    [
        ("api.example.com", "example.com"),
        ("a.b.example.com", "b.example.com"),
        ("example.com", "example.com"),
    ],
)
def test_hosted_zone_defaults_to_the_domains_parent(
    dev_config: dict[str, str], domain: str, zone: str
) -> None:
    settings = load(with_overrides(dev_config, {"domainName": domain}))

    assert settings.domain == DomainSettings(
        domain_name=domain, hosted_zone_name=zone, hosted_zone_id=HOSTED_ZONES[zone]
    )


def test_operations_follow_the_group_and_alarm_settings(dev_config: dict[str, str]) -> None:
    settings = load(
        with_overrides(
            dev_config, {"alarmEmail": "oncall@example.com", "minSize": 2, "desiredCapacity": 2}
        )
    )

    assert settings.backend.scaling_target_requests == 1000
    assert settings.operations == OperationsSettings(
        region="us-east-1",
        shell_command="aws ec2-instance-connect ssh --instance-id <id> --connection-type eice",
        service_unit="backend",
        alarm_email="oncall@example.com",
        target_5xx_threshold=10,
        cloudfront_5xx_rate_threshold=5,
        evaluation_periods=3,
    )
    assert load(dev_config).operations.alarm_email is None


def test_x86_instance_type_is_recognised(dev_config: dict[str, str]) -> None:
    settings = load(with_overrides(dev_config, {"instanceType": "t3.micro"}))

    assert settings.backend.architecture == "x86_64"


def test_availability_zones_exclude_opt_in_zones_and_are_asked_once(
    dev_config: dict[str, str],
) -> None:
    loaded: list[StackSettings] = []
    run = run_pulumi(lambda: loaded.append(load_settings()), dev_config)

    zone_lookups = [i for i in run.invokes if i.token.endswith("getAvailabilityZones")]
    assert len(zone_lookups) == 1
    assert zone_lookups[0].args == {
        "state": "available",
        "filters": [{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
    }


BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    (
        {"instanceType": "t4gmicro"},
        "instanceType 't4gmicro' is invalid: use an EC2 instance "
        "type of the form family.size, e.g. t4g.micro",
    ),
    ({"instanceType": "T4G.MICRO"}, "instanceType 'T4G.MICRO' is invalid"),
    (
        {"instanceType": "x9.large"},
        "instanceType 'x9.large' is not an EC2 instance type: did you mean ",
    ),
    ({"instanceType": "m5.large"}, "instanceType 'm5.large' is not offered in us-east-1"),
    ({"originSecretVersion": 0}, "originSecretVersion (0) must be between 1 and 1000000"),
    ({"originSecretVersion": "two"}, "originSecretVersion 'two' is not a whole number"),
    (
        {"instanceRoleBoundary": "arn:aws:iam::123456789012:policy/boundary"},
        "instanceRoleBoundary 'arn:aws:iam::123456789012:policy/boundary' is invalid: name an "
        "IAM managed policy of this account",
    ),
    ({"instanceType": "mac2.metal"}, "instanceType 'mac2.metal' runs arm64_mac; use an arm64"),
    ({"minSize": 3, "maxSize": 2, "desiredCapacity": 2}, "minSize (3) must be <= maxSize (2)"),
    ({"desiredCapacity": 5}, "desiredCapacity (5) must be between minSize (1) and maxSize (2)"),
    ({"minSize": 2, "desiredCapacity": 1}, "desiredCapacity (1) must be between minSize (2)"),
    ({"minSize": -1}, "minSize (-1) must be between 0 and 100"),
    ({"maxSize": 0}, "maxSize (0) must be between 1 and 100"),
    ({"maxSize": 1000}, "maxSize (1000) must be between 1 and 100"),
    ({"desiredCapacity": "two"}, "desiredCapacity 'two' is not a whole number"),
    ({"vpcCidr": "10.0.0.0/33"}, "vpcCidr '10.0.0.0/33' is invalid: use an IPv4 network"),
    ({"vpcCidr": "not-a-cidr"}, "vpcCidr 'not-a-cidr' is invalid"),
    ({"vpcCidr": "10.0.0.1/16"}, "vpcCidr '10.0.0.1/16' is invalid"),  # host bits set
    (
        {"vpcCidr": "10.0.0.0/25"},
        "vpcCidr '10.0.0.0/25' is invalid: use an IPv4 network in a "
        "private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), /16 to /23 (/24 with "
        "subnetLayout position)",
    ),
    (
        {"vpcCidr": "10.0.0.0/24"},
        "vpcCidr '10.0.0.0/24' is invalid: use an IPv4 network in a "
        "private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), /16 to /23",
    ),
    ({"vpcCidr": "10.0.0.0/8"}, "vpcCidr '10.0.0.0/8' is invalid"),  # larger than AWS allows
    ({"vpcCidr": "8.8.0.0/16"}, "vpcCidr '8.8.0.0/16' is invalid"),  # public range
    ({"azCount": 1}, "azCount (1) must be between 2 and 4"),
    ({"azCount": 5}, "azCount (5) must be between 2 and 4"),
    ({"natGateways": "one"}, "natGateways 'one' is not one of: none, single, perAz"),
    ({"appPort": 0}, "appPort (0) must be between 1 and 65535"),
    ({"appPort": 70000}, "appPort (70000) must be between 1 and 65535"),
    (
        {"healthCheckPath": "health"},
        "healthCheckPath 'health' is invalid: use a path starting with '/' of at most 255 letters, "
        "digits and . _ ~ - /, e.g. /health",
    ),
    ({"healthCheckPath": "/health check"}, "healthCheckPath '/health check' is invalid"),
    ({"healthCheckPath": "/health?x=1"}, "healthCheckPath '/health?x=1' is invalid"),
    ({"healthCheckPath": "/$HOME%i"}, "healthCheckPath '/$HOME%i' is invalid"),  # systemd specials
    (
        {"priceClass": "PriceClass_50"},
        "priceClass 'PriceClass_50' is not one of: PriceClass_100, PriceClass_200, PriceClass_All",
    ),
    ({"wafEnabled": "yes"}, "wafEnabled 'yes' is not a boolean: use true or false"),
    ({"wafRateLimit": 5}, "wafRateLimit (5) must be between 10 and 2000000000"),
    ({"originAccess": "private"}, "originAccess 'private' is not one of: publicAlb, vpcOrigin"),
    ({"logRetentionDays": 0}, "logRetentionDays (0) must be between 1 and 3650"),
    ({"accessLogs": "on"}, "accessLogs 'on' is not a boolean: use true or false"),
    ({"flowLogs": True, "accessLogs": False}, "flowLogs (true) needs accessLogs: true"),
    (
        {"domainName": "API.example.com"},
        "domainName 'API.example.com' is invalid: use a lower-case",
    ),
    ({"domainName": "api.example.com."}, "domainName 'api.example.com.' is invalid"),
    ({"domainName": "localhost"}, "domainName 'localhost' is invalid"),
    ({"domainName": "-api.example.com"}, "domainName '-api.example.com' is invalid"),
    (
        {"domainName": "api.example.com", "hostedZoneName": "ample.com"},
        "domainName 'api.example.com' is not inside hostedZoneName 'ample.com'",
    ),
    (
        {"domainName": "api.example.com", "hostedZoneName": "example"},
        "hostedZoneName 'example' is invalid",
    ),
    (
        {"hostedZoneName": "example.com"},
        "hostedZoneName 'example.com' is set but domainName is not",
    ),
    ({"scalingTargetRequests": 0}, "scalingTargetRequests (0) must be between 1 and 1000000"),
    ({"alarmEmail": "oncall"}, "alarmEmail 'oncall' is invalid: use an e-mail address"),
    ({"alarmTarget5xxCount": 0}, "alarmTarget5xxCount (0) must be between 1 and 1000000"),
    (
        {"alarmCloudFront5xxRatePercent": 101},
        "alarmCloudFront5xxRatePercent (101) must be between 1 and 100",
    ),
    ({"alarmEvaluationPeriods": 0}, "alarmEvaluationPeriods (0) must be between 1 and 60"),
    ({"deletionProtection": "1"}, "deletionProtection '1' is not a boolean: use true or false"),
    ({"aws:region": None}, "aws:region is not set"),
    (
        {"instanceTyp": "t3.micro"},
        "instanceTyp is not a setting of this program: did you mean instanceType?",
    ),
    ({"wafEnable": "true"}, "wafEnable is not a setting of this program: did you mean wafEnabled?"),
    ({"colour": "blue"}, "colour is not a setting of this program: see Pulumi.yaml for the keys"),
    (
        {"domainName": "api.example.org"},
        "hostedZoneName 'example.org' (for domainName 'api.example.org') is not a public Route 53 "
        "hosted zone of this account",
    ),
    (
        {"azCount": 4, "aws:region": "us-west-1", "availabilityZones": []},
        "azCount (4) is more than the 3 zones us-west-1 offers",
    ),
    ({"appPort": None}, "appPort is not set (its default belongs in Pulumi.yaml)"),
]


@pytest.mark.parametrize(
    ("overrides", "message"), BAD_VALUES, ids=[str(case[0]) for case in BAD_VALUES]
)
def test_bad_value_is_refused_before_any_resource(
    dev_config: dict[str, str], overrides: dict[str, Any], message: str
) -> None:
    assert_refused_alone(with_overrides(dev_config, overrides), message)


def assert_refused_alone(config: dict[str, str], message: str) -> None:
    """The program stops before any resource with one problem, the one starting `message`."""
    error, run = run_main_failing(config)

    assert isinstance(error, SettingsError)
    assert any(problem.startswith(message) for problem in error.problems), error.problems
    assert len(error.problems) == 1, error.problems
    assert run.resources == []


def test_azcount_beyond_the_zones_the_region_offers_is_refused(
    dev_config: dict[str, str],
) -> None:
    error, run = run_main_failing(
        with_overrides(dev_config, {"azCount": 3, "availabilityZones": []}),
        zones=US_EAST_1_ZONES[:2],
    )

    assert isinstance(error, SettingsError)
    assert error.problems == [
        "azCount (3) is more than the 2 zones us-east-1 offers (us-east-1a, us-east-1b)"
    ]
    assert run.resources == []


def test_every_problem_is_reported_at_once(dev_config: dict[str, str]) -> None:
    error, run = run_main_failing(
        with_overrides(
            dev_config,
            {"minSize": 4, "appPort": "http", "wafEnabled": "yes", "natGateways": "always"},
        )
    )

    assert isinstance(error, SettingsError)
    assert sorted(error.problems) == sorted(
        [
            "minSize (4) must be <= maxSize (2)",
            "appPort 'http' is not a whole number",
            "wafEnabled 'yes' is not a boolean: use true or false",
            "natGateways 'always' is not one of: none, single, perAz",
        ]
    )
    assert str(error).startswith("Invalid stack configuration (4 problem(s)):\n  - ")
    assert run.resources == []


def test_region_is_not_asked_about_values_already_refused(dev_config: dict[str, str]) -> None:
    _, run = run_main_failing(with_overrides(dev_config, {"instanceType": "bogus"}))

    assert [i for i in run.invokes if i.token == INSTANCE_TYPE_TOKEN] == []


@pytest.mark.parametrize("spelling", ["true", "True", "false", "False"])
def test_booleans_accept_what_pulumi_accepts(dev_config: dict[str, str], spelling: str) -> None:
    settings = load(with_overrides(dev_config, {"wafEnabled": spelling}))

    assert (settings.firewall is not None) is (spelling.lower() == "true")


def zone_choice(config: dict[str, str], zones: list[str] | None = None) -> tuple[str, ...]:
    """The zones chosen automatically: the config with no availabilityZones."""
    return zone_names(load(with_overrides(config, {"availabilityZones": []}), zones))


def test_zones_that_do_not_offer_the_instance_type_are_left_out(
    dev_config: dict[str, str],
) -> None:
    three = with_overrides(dev_config, {"azCount": 3})

    # us-east-1c is use1-az3 in the mocks, which offers no Nitro (t4g, t3) instances.
    assert zone_choice(three) == ("us-east-1a", "us-east-1b", "us-east-1d")
    assert zone_choice(with_overrides(three, {"instanceType": "t3.micro"})) == (
        "us-east-1a",
        "us-east-1b",
        "us-east-1d",
    )
    assert zone_choice(with_overrides(three, {"instanceType": "t2.micro"})) == (
        "us-east-1a",
        "us-east-1b",
        "us-east-1c",
    )


def test_vpc_origin_leaves_out_zones_without_cloudfront_vpc_origins(
    dev_config: dict[str, str],
) -> None:
    config = with_overrides(
        dev_config, {"azCount": 3, "instanceType": "t2.micro", "originAccess": "vpcOrigin"}
    )

    assert zone_choice(config) == ("us-east-1a", "us-east-1b", "us-east-1d")


def test_instance_type_offerings_are_asked_by_zone_id(dev_config: dict[str, str]) -> None:
    loaded: list[StackSettings] = []
    run = run_pulumi(lambda: loaded.append(load_settings()), dev_config)

    [lookup] = [i for i in run.invokes if i.token == OFFERINGS_TOKEN]
    assert lookup.args == {
        "locationType": "availability-zone-id",
        "filters": [{"name": "instance-type", "values": ["t4g.nano"]}],
    }


def test_too_few_zones_offering_the_type_name_the_keys_and_the_zones(
    dev_config: dict[str, str],
) -> None:
    error, run = run_main_failing(
        with_overrides(dev_config, {"azCount": 3, "availabilityZones": []}),
        zones=US_EAST_1_ZONES[:3],
    )

    assert isinstance(error, SettingsError)
    assert error.problems == [
        "azCount (3) needs 3 zones that offer instanceType 't4g.nano'; us-east-1 has 2: "
        "us-east-1a (use1-az1), us-east-1b (use1-az2). Lower azCount or choose another "
        "instanceType"
    ]
    assert run.resources == []


def test_unknown_keys_outside_the_project_namespace_are_left_to_their_owners(
    dev_config: dict[str, str],
) -> None:
    config = with_overrides(dev_config, {"aws:skipMetadataApiCheck": "false"})

    assert load(config).backend.instance_type == "t4g.nano"


def test_automatic_zones_are_chosen_by_zone_id() -> None:
    """Zone names map to different zones in each account; the choice follows the ids."""
    config = with_overrides(stack_config("dev"), {"availabilityZones": []})
    # In this account, us-east-1a..c are use1-az1..3 (the mocks' mapping); listed out of order.
    zones = ["us-east-1b", "us-east-1a", "us-east-1c"]

    assert zone_choice(config, zones) == ("us-east-1a", "us-east-1b")


def test_pinned_zones_are_kept_in_their_order_whatever_else_qualifies(
    dev_config: dict[str, str],
) -> None:
    pinned = with_overrides(
        dev_config, {"azCount": 3, "availabilityZones": ["use1-az6", "use1-az2", "use1-az4"]}
    )

    settings = load(pinned)

    assert [zone.id for zone in settings.network.availability_zones] == [
        "use1-az6",
        "use1-az2",
        "use1-az4",
    ]
    assert zone_names(settings) == ("us-east-1f", "us-east-1b", "us-east-1d")


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        (
            {"availabilityZones": ["use1-az1", "use1-az3"], "instanceType": "t4g.micro"},
            "availabilityZones ['use1-az1', 'use1-az3'] names us-east-1c (use1-az3), which do "
            "not offer instanceType 't4g.micro'; zones of us-east-1 that do: us-east-1a "
            "(use1-az1), us-east-1b (use1-az2), us-east-1d (use1-az4), us-east-1e (use1-az5), "
            "us-east-1f (use1-az6). Name those, or choose another instanceType",
        ),
        (
            {
                "availabilityZones": ["use1-az1", "use1-az3"],
                "instanceType": "t2.micro",
                "originAccess": "vpcOrigin",
            },
            "availabilityZones ['use1-az1', 'use1-az3'] names us-east-1c (use1-az3), which do "
            "not offer instanceType 't2.micro' and support CloudFront VPC origins (originAccess "
            "vpcOrigin)",
        ),
        (
            {"availabilityZones": ["use1-az1", "euw1-az2"]},
            "availabilityZones ['use1-az1', 'euw1-az2']: euw1-az2 is not a zone id of us-east-1 "
            "that needs no opt-in; its zones are us-east-1a (use1-az1)",
        ),
        (
            {"availabilityZones": ["use1-az1", "use1-az1"]},
            "availabilityZones ['use1-az1', 'use1-az1'] names a zone twice",
        ),
        (
            {"availabilityZones": ["use1-az1", "use1-az2", "use1-az4"]},
            "availabilityZones names 3 zones but azCount is 2: set azCount to 3",
        ),
        (
            {"availabilityZones": [], "subnetLayout": "position"},
            "subnetLayout position numbers subnets by their zone's place in availabilityZones: "
            "name the stack's zone ids there, in the order of their zone names",
        ),
        ({"subnetLayout": "byName"}, "subnetLayout 'byName' is not one of: zoneId, position"),
        (
            {"availabilityZones": "use1-az1"},
            "availabilityZones 'use1-az1' is not a list: in the stack file, e.g. "
            "[use1-az1, use1-az2]",
        ),
    ],
)
def test_bad_zone_pins_are_refused_before_any_resource(
    dev_config: dict[str, str], overrides: dict[str, Any], problem: str
) -> None:
    assert_refused_alone(with_overrides(dev_config, overrides), problem)


def test_a_zone_without_a_subnet_slot_is_refused(dev_config: dict[str, str]) -> None:
    error, run = run_main_failing(
        with_overrides(dev_config, {"availabilityZones": ["use1-az1", "use1-az9"]}),
        zones=[*US_EAST_1_ZONES, "us-east-1g", "us-east-1h", "us-east-1i"],
    )

    assert isinstance(error, SettingsError)
    assert error.problems == [
        "zones use1-az9 have no subnet slot (zone ids up to az8 have one): name other zones in "
        "availabilityZones"
    ]
    assert run.resources == []
