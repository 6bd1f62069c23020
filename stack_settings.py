"""The stack's settings: read from Pulumi config once, validated, returned as frozen dataclasses.

This is the only module that reads `pulumi.Config`. Components take the dataclasses below, so
each can be built and tested without config. Defaults live in `Pulumi.yaml` only; the Pulumi CLI
merges them with the stack file before the program runs.

Every problem is collected and reported in one `SettingsError` before any resource exists.
Two checks need facts about the region, answered by read-only lookups (invokes, not resources):
the availability zones it offers and the CPU architecture of the chosen instance type.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import pulumi
import pulumi_aws as aws

from components.backend import SUPPORTED_ARCHITECTURES, BackendSettings
from components.dns import DomainSettings, default_hosted_zone, domain_problems, is_fqdn
from components.edge_firewall import MAX_RATE_LIMIT, MIN_RATE_LIMIT, EdgeFirewallSettings
from components.front_door import FrontDoorSettings, PriceClass
from components.log_bucket import LogBucketSettings
from components.network import (
    LARGEST_VPC_PREFIX,
    MAX_AZ_COUNT,
    MIN_AZ_COUNT,
    SMALLEST_SUBNET_PREFIX,
    SMALLEST_VPC_PREFIX,
    SUBNET_SLOTS,
    NatGateways,
    NetworkSettings,
)
from components.operations import OperationsSettings

MAX_INSTANCES = 100  # A guard against typos such as 1000; raise it knowingly.
MAX_LOG_RETENTION_DAYS = 3650
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
INSTANCE_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
# Plain path characters only: the path also lands on the service's systemd command line.
HEALTH_CHECK_PATH_PATTERN = re.compile(r"^/[A-Za-z0-9._~/-]{0,254}$")
PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


@dataclass(frozen=True)
class StackSettings:
    network: NetworkSettings
    backend: BackendSettings
    front_door: FrontDoorSettings
    firewall: EdgeFirewallSettings | None  # None: no web ACL (wafEnabled false)
    logs: LogBucketSettings | None  # None: no access logs (accessLogs false)
    domain: DomainSettings | None  # None: the distribution's own *.cloudfront.net name
    operations: OperationsSettings


class OriginAccess(StrEnum):
    """How CloudFront reaches the load balancer."""

    PUBLIC_ALB = "publicAlb"  # an internet-facing ALB, as the seeds build it
    VPC_ORIGIN = "vpcOrigin"  # an internal ALB behind a CloudFront VPC origin


Choice = TypeVar("Choice", bound=StrEnum)


class SettingsError(pulumi.RunError):
    """Bad stack configuration. A RunError, so Pulumi prints the message without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"Invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


class _ConfigReader:
    """Parses raw config strings, collecting one message per bad key instead of stopping.

    A bad or missing key yields a placeholder value and is remembered; `load_settings` raises
    before any placeholder can be used, and runs cross-key checks only on keys that were valid.
    """

    def __init__(self, config: pulumi.Config) -> None:
        self._config = config
        self.problems: list[str] = []
        self._bad_keys: set[str] = set()

    def valid(self, *keys: str) -> bool:
        return not self._bad_keys.intersection(keys)

    def _reject(self, key: str, problem: str) -> None:
        self._bad_keys.add(key)
        self.problems.append(problem)

    def _raw(self, key: str) -> str | None:
        value = self._config.get(key)
        if value is None:
            self._reject(key, f"{key} is not set (its default belongs in Pulumi.yaml)")
        return value

    def text(self, key: str, valid: Callable[[str], bool], allowed: str) -> str:
        value = self._raw(key)
        if value is not None and not valid(value):
            self._reject(key, f"{key} {value!r} is invalid: {allowed}")
        return value or ""

    def integer(self, key: str, minimum: int, maximum: int) -> int:
        value = self._raw(key)
        if value is None:
            return minimum
        if not re.fullmatch(r"-?[0-9]+", value.strip()):
            self._reject(key, f"{key} {value!r} is not a whole number")
            return minimum
        number = int(value)
        if not minimum <= number <= maximum:
            self._reject(key, f"{key} ({number}) must be between {minimum} and {maximum}")
        return number

    def boolean(self, key: str) -> bool:
        value = self._raw(key)
        # The same spellings pulumi.Config.get_bool accepts.
        if value is not None and value not in ("true", "True", "false", "False"):
            self._reject(key, f"{key} {value!r} is not a boolean: use true or false")
        return value in ("true", "True")

    def choice(self, key: str, choices: type[Choice]) -> Choice:
        value = self._raw(key)
        try:
            return choices(value)
        except ValueError:
            if value is not None:
                allowed = ", ".join(member.value for member in choices)
                self._reject(key, f"{key} {value!r} is not one of: {allowed}")
            return next(iter(choices))


def _is_usable_vpc_cidr(value: str) -> bool:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return False
    return SMALLEST_VPC_PREFIX <= network.prefixlen <= LARGEST_VPC_PREFIX and any(
        network.subnet_of(private) for private in PRIVATE_RANGES
    )


VPC_CIDR_RULE = (
    f"use an IPv4 network in a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), "
    f"/{SMALLEST_VPC_PREFIX} to /{LARGEST_VPC_PREFIX}, without host bits, e.g. 10.0.0.0/16 "
    f"(it is split into {SUBNET_SLOTS} subnets of at least /{SMALLEST_SUBNET_PREFIX}: "
    f"a public and a private one for up to {MAX_AZ_COUNT} zones)"
)


def usable_availability_zones() -> list[str]:
    """The region's zones that are up and need no opt-in (Local/Wavelength zones do)."""
    zones = aws.get_availability_zones(
        state="available",
        filters=[
            aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])
        ],
    )
    return sorted(zones.names)


def instance_architectures(instance_type: str) -> list[str]:
    """The CPU architectures EC2 reports for an instance type (raises if the region has no such
    type). Decides which Amazon Linux image, arm64 or x86_64, the instances boot."""
    return list(aws.ec2.get_instance_type(instance_type=instance_type).supported_architectures)


def _zones(region: str, az_count: int, problems: list[str]) -> list[str]:
    zones = usable_availability_zones()
    if az_count > len(zones):
        problems.append(
            f"azCount ({az_count}) is more than the {len(zones)} zones {region} offers "
            f"({', '.join(zones)})"
        )
    return zones


def _architecture(region: str, instance_type: str, problems: list[str]) -> str:
    try:
        architectures = instance_architectures(instance_type)
    except Exception as error:  # noqa: BLE001 - the SDK raises a bare Exception
        reason = (str(error).strip() or type(error).__name__).splitlines()[0]
        problems.append(
            f"instanceType {instance_type!r} is not offered in {region} (EC2 says: {reason})"
        )
        return ""
    supported = [arch for arch in SUPPORTED_ARCHITECTURES if arch in architectures]
    if not supported:
        problems.append(
            f"instanceType {instance_type!r} runs {', '.join(architectures)}; use an arm64 "
            "(Graviton, e.g. t4g.micro) or x86_64 (e.g. t3.micro) instance type"
        )
        return ""
    return supported[0]


def load_settings() -> StackSettings:
    """Reads and validates the whole stack configuration, or raises SettingsError."""
    read = _ConfigReader(pulumi.Config())
    # Network
    vpc_cidr = read.text("vpcCidr", _is_usable_vpc_cidr, VPC_CIDR_RULE)
    az_count = read.integer("azCount", MIN_AZ_COUNT, MAX_AZ_COUNT)
    nat_gateways = read.choice("natGateways", NatGateways)
    # Backend
    instance_type = read.text(
        "instanceType",
        lambda value: bool(INSTANCE_TYPE_PATTERN.fullmatch(value)),
        "use an EC2 instance type of the form family.size, e.g. t4g.micro",
    )
    min_size = read.integer("minSize", 0, MAX_INSTANCES)
    max_size = read.integer("maxSize", 1, MAX_INSTANCES)
    desired_capacity = read.integer("desiredCapacity", 0, MAX_INSTANCES)
    app_port = read.integer("appPort", 1, 65535)
    health_check_path = read.text(
        "healthCheckPath",
        lambda path: bool(HEALTH_CHECK_PATH_PATTERN.fullmatch(path)),
        "use a path starting with '/' of at most 255 letters, digits and . _ ~ - /, e.g. /health",
    )
    deletion_protection = read.boolean("deletionProtection")
    origin_access = read.choice("originAccess", OriginAccess)
    # Edge: distribution, WAF, domain
    price_class = read.choice("priceClass", PriceClass)
    waf_enabled = read.boolean("wafEnabled")
    waf_rate_limit = read.integer("wafRateLimit", MIN_RATE_LIMIT, MAX_RATE_LIMIT)
    domain_name = read.text("domainName", lambda _: True, "")  # checked with its zone below
    hosted_zone_name = read.text("hostedZoneName", lambda _: True, "")
    # Logs
    access_logs = read.boolean("accessLogs")
    log_retention_days = read.integer("logRetentionDays", 1, MAX_LOG_RETENTION_DAYS)
    flow_logs = read.boolean("flowLogs")
    # Operations
    scaling_target_requests = read.integer("scalingTargetRequests", 1, 1_000_000)
    alarm_email = read.text(
        "alarmEmail",
        lambda value: value == "" or bool(EMAIL_PATTERN.fullmatch(value)),
        "use an e-mail address such as oncall@example.com, or leave it empty",
    )
    alarm_target_5xx_count = read.integer("alarmTarget5xxCount", 1, 1_000_000)
    alarm_cloudfront_5xx_rate = read.integer("alarmCloudFront5xxRatePercent", 1, 100)
    alarm_evaluation_periods = read.integer("alarmEvaluationPeriods", 1, 60)

    # Keys that must agree with each other.
    problems = read.problems
    if read.valid("minSize", "maxSize", "desiredCapacity"):
        if min_size > max_size:
            problems.append(f"minSize ({min_size}) must be <= maxSize ({max_size})")
        elif not min_size <= desired_capacity <= max_size:
            problems.append(
                f"desiredCapacity ({desired_capacity}) must be between minSize ({min_size}) "
                f"and maxSize ({max_size})"
            )
    if domain_name:
        if not hosted_zone_name and is_fqdn(domain_name):
            hosted_zone_name = default_hosted_zone(domain_name)
        problems.extend(domain_problems(domain_name, hosted_zone_name))
    elif hosted_zone_name:
        problems.append(f"hostedZoneName {hosted_zone_name!r} is set but domainName is not")
    if read.valid("accessLogs", "flowLogs") and flow_logs and not access_logs:
        problems.append("flowLogs (true) needs accessLogs: true (flow logs go to the log bucket)")

    aws_config = pulumi.Config("aws")
    region = aws_config.get("region") or ""
    if not region:
        problems.append("aws:region is not set: run `pulumi config set aws:region us-east-1`")
    default_tags: Any = aws_config.get_object("defaultTags") or {}
    instance_tags = {str(k): str(v) for k, v in dict(default_tags.get("tags") or {}).items()}

    # Questions for the region, asked only about values that passed the local checks.
    zones = _zones(region, az_count, problems) if region and read.valid("azCount") else []
    architecture = (
        _architecture(region, instance_type, problems)
        if region and read.valid("instanceType")
        else ""
    )

    if problems:
        raise SettingsError(problems)
    return StackSettings(
        network=NetworkSettings(
            vpc_cidr=vpc_cidr,
            availability_zones=tuple(zones[:az_count]),
            nat_gateways=nat_gateways,
            region=region,
        ),
        backend=BackendSettings(
            instance_type=instance_type,
            architecture=architecture,
            min_size=min_size,
            max_size=max_size,
            desired_capacity=desired_capacity,
            app_port=app_port,
            health_check_path=health_check_path,
            deletion_protection=deletion_protection,
            internal_alb=origin_access is OriginAccess.VPC_ORIGIN,
            instance_tags=instance_tags,
        ),
        front_door=FrontDoorSettings(price_class=price_class),
        firewall=EdgeFirewallSettings(rate_limit=waf_rate_limit) if waf_enabled else None,
        logs=LogBucketSettings(retention_days=log_retention_days, flow_logs=flow_logs)
        if access_logs
        else None,
        domain=DomainSettings(domain_name=domain_name, hosted_zone_name=hosted_zone_name)
        if domain_name
        else None,
        operations=OperationsSettings(
            region=region,
            scaling_target_requests=scaling_target_requests,
            alarm_email=alarm_email or None,
            min_healthy_hosts=min_size,
            target_5xx_threshold=alarm_target_5xx_count,
            cloudfront_5xx_rate_threshold=alarm_cloudfront_5xx_rate,
            evaluation_periods=alarm_evaluation_periods,
        ),
    )
