"""The stack's settings: read from Pulumi config once, validated, returned as frozen dataclasses.

This is the only module that reads `pulumi.Config`. Components take the dataclasses below, so
each can be built and tested without config. Defaults live in `Pulumi.yaml` only; the Pulumi CLI
merges them with the stack file before the program runs.

Every problem is collected and reported in one `SettingsError` before any resource exists.
The checks that need facts about the account and region (zones, instance types, images, the
hosted zone) live in stack_lookups.py, which asks AWS read-only questions (invokes).
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import yaml

from components.alb_origin import OriginAccess
from components.backend import BackendSettings
from components.backend.app_source import (
    AppSource,
    SecretStore,
    image_parameter,
    machine_image_problems,
    parse_environment,
    parse_image,
    parse_secrets,
)
from components.backend.user_data import USER_DATA_LIMIT, rendered_size
from components.dashboard import CpuCredits
from components.dns import DomainSettings, default_hosted_zone, domain_problems, is_fqdn
from components.edge_firewall import MAX_RATE_LIMIT, MIN_RATE_LIMIT, EdgeFirewallSettings
from components.front_door import FrontDoorSettings, PriceClass
from components.log_bucket import LogBucketSettings
from components.network import (
    INTERFACE_ENDPOINT_SERVICES,
    LARGEST_VPC_PREFIX,
    MAX_AZ_COUNT,
    MIN_AZ_COUNT,
    POSITION_LARGEST_VPC_PREFIX,
    SMALLEST_SUBNET_PREFIX,
    SMALLEST_VPC_PREFIX,
    ZONE_SLOTS,
    NatGateways,
    NetworkSettings,
    SubnetLayout,
    has_zone_slot,
)
from components.operations import OperationsSettings
from stack_lookups import (
    architecture,
    choose_zones,
    container_memory_problems,
    hosted_zone_id,
    machine_image_root_device,
)

MAX_INSTANCES = 100  # A guard against typos such as 1000; raise it knowingly.
# Image parameters the CI deploy role may read (bootstrap/policies.py): AWS's public ones and
# the project's own.
IMAGE_PARAMETER_PREFIXES = ("/aws/service/", "/cdn-alb-backend/")
MAX_LOG_RETENTION_DAYS = 3650
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
INSTANCE_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
# Plain path characters only: the path also lands on the service's systemd command line.
IAM_POLICY_NAME_PATTERN = re.compile(r"^[\w+=,.@-]{1,128}$", re.ASCII)
HEALTH_CHECK_PATH_PATTERN = re.compile(r"^/[A-Za-z0-9._~/-]{0,254}$")
PRIVATE_RANGES = tuple(
    ipaddress.IPv4Network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
PROJECT_FILE = Path(__file__).resolve().parent / "Pulumi.yaml"
BURSTABLE_FAMILIES = frozenset({"t2", "t3", "t3a", "t4g"})  # they earn and spend CPU credits


@dataclass(frozen=True)
class StackSettings:
    network: NetworkSettings
    backend: BackendSettings
    front_door: FrontDoorSettings
    firewall: EdgeFirewallSettings | None  # None: no web ACL (wafEnabled false)
    logs: LogBucketSettings | None  # None: no access logs (accessLogs false)
    domain: DomainSettings | None  # None: the distribution's own *.cloudfront.net name
    operations: OperationsSettings


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

    def _list(self, key: str, example: str) -> list[Any]:
        value = self._raw(key)
        if value is None:
            return []
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list):
            self._reject(key, f"{key} {value!r} is not a list: in the stack file, e.g. {example}")
            return []
        return parsed

    def strings(self, key: str, example: str) -> list[str]:
        items = self._list(key, example)
        if not all(isinstance(item, str) for item in items):
            self._reject(key, f"{key} {items!r} must list strings, e.g. {example}")
            return []
        return items

    def integers(self, key: str, example: str) -> list[int]:
        items = self._list(key, example)
        if not all(isinstance(item, int) and not isinstance(item, bool) for item in items):
            self._reject(key, f"{key} {items!r} must list whole numbers, e.g. {example}")
            return []
        return items

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
    return SMALLEST_VPC_PREFIX <= network.prefixlen <= POSITION_LARGEST_VPC_PREFIX and any(
        network.subnet_of(private) for private in PRIVATE_RANGES
    )


VPC_CIDR_RULE = (
    f"use an IPv4 network in a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), "
    f"/{SMALLEST_VPC_PREFIX} to /{LARGEST_VPC_PREFIX} (/{POSITION_LARGEST_VPC_PREFIX} with "
    f"subnetLayout position), without host bits, e.g. 10.0.0.0/16 "
    f"(each zone's public and private subnet take slots of their own, at least "
    f"/{SMALLEST_SUBNET_PREFIX})"
)


@functools.cache  # the file does not change during a run
def _declared_keys() -> list[str]:
    project = yaml.safe_load(PROJECT_FILE.read_text())
    return sorted(project.get("config") or {})


def _config_keys() -> list[str]:
    """Every config key the CLI handed the program, once. `pulumi.Config` reads one key at a
    time and cannot list them, so this reads the SDK's runtime config: the Python language host
    passes the same keys both through it and through the PULUMI_CONFIG environment variable."""
    keys = [*pulumi.runtime.config.CONFIG.get(), *pulumi.runtime.config.get_config_env()]
    return list(dict.fromkeys(keys))


def unknown_key_problems(config_keys: list[str]) -> list[str]:
    """One problem per key of the project's namespace that Pulumi.yaml does not declare.

    The CLI passes undeclared keys through, so without this a typo (`instanceTyp`) would deploy
    the default silently.
    """
    prefix = f"{pulumi.get_project()}:"
    declared = _declared_keys()
    problems = []
    for full_key in sorted(set(config_keys)):
        key = full_key.removeprefix(prefix)
        if full_key.startswith(prefix) and key not in declared:
            closest = difflib.get_close_matches(key, declared, n=1)
            hint = f"did you mean {closest[0]}?" if closest else "see Pulumi.yaml for the keys"
            problems.append(f"{key} is not a setting of this program: {hint}")
    return problems


def load_settings() -> StackSettings:
    """Reads and validates the whole stack configuration, or raises SettingsError."""
    read = _ConfigReader(pulumi.Config())
    read.problems.extend(unknown_key_problems(_config_keys()))
    region, instance_tags = _read_aws(read.problems)
    backend = _read_backend(read, region, instance_tags)
    if not read.problems:
        read.problems.extend(_user_data_problems(backend))
        read.problems.extend(container_memory_problems(backend))
        backend = replace(
            backend, machine_image_root_device=machine_image_root_device(backend, read.problems)
        )
    network = _read_network(read, region, backend)
    # Read once: the log bucket's objects and the WAF's log group both keep logs this long.
    log_retention_days = read.integer("logRetentionDays", 1, MAX_LOG_RETENTION_DAYS)
    settings = StackSettings(
        network=network,
        backend=backend,
        front_door=FrontDoorSettings(price_class=read.choice("priceClass", PriceClass)),
        firewall=_read_firewall(read, log_retention_days),
        logs=_read_logs(read, region, log_retention_days),
        domain=_read_domain(read),
        operations=_read_operations(read, region, backend, network),
    )
    # The one question for the account, asked only once everything else is valid.
    if settings.domain and not read.problems:
        zone_id = hosted_zone_id(
            settings.domain.domain_name, settings.domain.hosted_zone_name, read.problems
        )
        settings = replace(settings, domain=replace(settings.domain, hosted_zone_id=zone_id))
    if read.problems:
        raise SettingsError(read.problems)
    return settings


def _read_aws(problems: list[str]) -> tuple[str, dict[str, str]]:
    """The stack's region, and its default tags (copied onto instances and their volumes)."""
    aws_config = pulumi.Config("aws")
    region = aws_config.get("region") or ""
    if not region:
        problems.append("aws:region is not set: run `pulumi config set aws:region us-east-1`")
    default_tags: Any = aws_config.get_object("defaultTags") or {}
    return region, {str(k): str(v) for k, v in dict(default_tags.get("tags") or {}).items()}


def _read_backend(
    read: _ConfigReader, region: str, instance_tags: dict[str, str]
) -> BackendSettings:
    instance_type = read.text(
        "instanceType",
        lambda value: bool(INSTANCE_TYPE_PATTERN.fullmatch(value)),
        "use an EC2 instance type of the form family.size, e.g. t4g.micro",
    )
    min_size = read.integer("minSize", 0, MAX_INSTANCES)
    max_size = read.integer("maxSize", 1, MAX_INSTANCES)
    desired_capacity = read.integer("desiredCapacity", 0, MAX_INSTANCES)
    if read.valid("minSize", "maxSize", "desiredCapacity"):
        if min_size > max_size:
            read.problems.append(f"minSize ({min_size}) must be <= maxSize ({max_size})")
        elif not min_size <= desired_capacity <= max_size:
            read.problems.append(
                f"desiredCapacity ({desired_capacity}) must be between minSize ({min_size}) "
                f"and maxSize ({max_size})"
            )
    return BackendSettings(
        instance_type=instance_type,
        # Asked of EC2 only about a well-formed type in a known region.
        architecture=architecture(region, instance_type, read.problems)
        if region and read.valid("instanceType")
        else "",
        min_size=min_size,
        max_size=max_size,
        desired_capacity=desired_capacity,
        app_port=read.integer("appPort", 1, 65535),
        health_check_path=read.text(
            "healthCheckPath",
            lambda path: bool(HEALTH_CHECK_PATH_PATTERN.fullmatch(path)),
            "use a path starting with '/' of at most 255 letters, digits and . _ ~ - /, "
            "e.g. /health",
        ),
        deletion_protection=read.boolean("deletionProtection"),
        origin_access=read.choice("originAccess", OriginAccess),
        scaling_target_requests=read.integer("scalingTargetRequests", 1, 1_000_000),
        instance_tags=instance_tags,
        app=_read_app(read),
        rollout_checkpoints=_read_rollout_checkpoints(read),
        instance_connect=read.boolean("instanceConnect"),
        region=region,
        cpu_credits=_read_cpu_credits(read, instance_type),
        aws_profile=pulumi.Config("aws").get("profile"),
        origin_secret_version=read.integer("originSecretVersion", 1, 1_000_000),
        instance_role_boundary=read.text(
            "instanceRoleBoundary",
            lambda value: value == "" or bool(IAM_POLICY_NAME_PATTERN.fullmatch(value)),
            "name an IAM managed policy of this account (letters, digits and +=,.@-_, at most "
            "128), e.g. cdn-alb-backend-instance-boundary, or leave it empty",
        ),
    )


def _read_cpu_credits(read: _ConfigReader, instance_type: str) -> CpuCredits | None:
    """The credit mode, for burstable instance types only (others take no credit setting)."""
    credits = read.choice("cpuCredits", CpuCredits)
    return credits if instance_type.split(".", maxsplit=1)[0] in BURSTABLE_FAMILIES else None


def _read_app(read: _ConfigReader) -> AppSource:
    """What the instances run; every problem of the app's keys, and how they combine."""
    image, problems = parse_image(read.text("appImage", lambda _: True, ""))
    machine_image = read.text("machineImage", lambda _: True, "")
    image_problems = machine_image_problems(machine_image)
    problems += image_problems
    parameter = image_parameter(machine_image)
    if (
        parameter is not None
        and not image_problems
        and not parameter.startswith(IMAGE_PARAMETER_PREFIXES)
    ):
        problems.append(
            f"machineImage {machine_image!r}: the deploy role reads image parameters under "
            f"{' or '.join(IMAGE_PARAMETER_PREFIXES)} only: store yours as "
            f"resolve:ssm:/cdn-alb-backend/{parameter.lstrip('/')}"
        )
    environment, environment_problems = parse_environment(
        read.strings("appEnvironment", "[LOG_LEVEL=info]")
    )
    secrets, secret_problems = parse_secrets(
        read.strings("appSecrets", "[DATABASE_PASSWORD=ssm:/orders/db-password]")
    )
    user_data_file = read.text("userDataFile", lambda _: True, "")
    problems += environment_problems + secret_problems
    if image and machine_image:
        problems.append(
            "appImage and machineImage are both set: run the image on Amazon Linux (appImage) "
            "or bake it into your machine image (machineImage), not both"
        )
    if user_data_file:
        problems += _user_data_file_problems(user_data_file, machine_image)
        if environment or secrets:
            problems.append(
                f"userDataFile {user_data_file!r} is used as it is, so appEnvironment and "
                "appSecrets would be dropped: set them in that file, or remove userDataFile"
            )
    if (environment or secrets) and not (image or machine_image):
        problems.append(
            "appEnvironment and appSecrets are for your app: set appImage or machineImage "
            "(the built-in service reads neither)"
        )
    read.problems.extend(problems)
    return AppSource(
        image=image,
        machine_image=machine_image or None,
        user_data_file=user_data_file or None,
        environment=environment,
        secrets=secrets,
    )


def _user_data_problems(backend: BackendSettings) -> list[str]:
    """EC2 takes at most 16 KB of user data; the app's settings make it grow."""
    try:
        size = rendered_size(
            backend.app_port, backend.health_check_path, backend.app, backend.region
        )
    except ValueError as error:
        return [f"the app's settings cannot become user data: {error}"]
    if size > USER_DATA_LIMIT:
        return [
            f"the instances' user data would be {size} bytes, and EC2 takes at most "
            f"{USER_DATA_LIMIT}: shorten appEnvironment or appSecrets, or bake them into a "
            "machineImage"
        ]
    return []


def _user_data_file_problems(path: str, machine_image: str) -> list[str]:
    if not machine_image:
        return [f"userDataFile {path!r} needs machineImage (Amazon Linux gets its own user data)"]
    root = PROJECT_FILE.parent
    file = (root / path).resolve()
    if Path(path).is_absolute() or not file.is_relative_to(root) or not file.is_file():
        return [f"userDataFile {path!r} is not a file of this repository (use a relative path)"]
    if file.stat().st_size > USER_DATA_LIMIT:
        return [
            f"userDataFile {path!r} has {file.stat().st_size} bytes; EC2 takes at most "
            f"{USER_DATA_LIMIT}"
        ]
    return []


def _read_rollout_checkpoints(read: _ConfigReader) -> tuple[int, ...]:
    checkpoints = read.integers("rolloutCheckpoints", "[25, 100]")
    ascending = all(a < b for a, b in itertools.pairwise(checkpoints))
    if checkpoints and not (
        ascending and all(1 <= c <= 100 for c in checkpoints) and checkpoints[-1] == 100
    ):
        read.problems.append(
            f"rolloutCheckpoints {checkpoints} is invalid: percentages from 1 to 100 in "
            "ascending order, ending at 100 so every instance is replaced, e.g. [25, 100]"
        )
        return ()
    return tuple(checkpoints)


def _read_network(read: _ConfigReader, region: str, backend: BackendSettings) -> NetworkSettings:
    vpc_cidr = read.text("vpcCidr", _is_usable_vpc_cidr, VPC_CIDR_RULE)
    az_count = read.integer("azCount", MIN_AZ_COUNT, MAX_AZ_COUNT)
    pinned = read.strings("availabilityZones", "[use1-az1, use1-az2]")
    layout = read.choice("subnetLayout", SubnetLayout)
    nat_gateways = read.choice("natGateways", NatGateways)
    if (
        read.valid("vpcCidr", "subnetLayout")
        and layout is SubnetLayout.ZONE_ID
        and ipaddress.IPv4Network(vpc_cidr).prefixlen > LARGEST_VPC_PREFIX
    ):
        read.problems.append(f"vpcCidr {vpc_cidr!r} is invalid: {VPC_CIDR_RULE}")
    zones = (
        choose_zones(
            region,
            az_count,
            pinned=pinned,
            # None: the type is invalid
            instance_type=backend.instance_type if backend.architecture else None,
            origin_access=backend.origin_access,
            problems=read.problems,
        )
        if region and read.valid("azCount", "availabilityZones")
        else []
    )
    if layout is SubnetLayout.POSITION and not pinned and read.valid("availabilityZones"):
        read.problems.append(
            "subnetLayout position numbers subnets by their zone's place in availabilityZones: "
            "name the stack's zone ids there, in the order of their zone names"
        )
    elif layout is SubnetLayout.ZONE_ID and (
        unslotted := [zone.id for zone in zones if not has_zone_slot(zone.id)]
    ):
        read.problems.append(
            f"zones {', '.join(unslotted)} have no subnet slot (zone ids up to az{ZONE_SLOTS} "
            "have one): name other zones in availabilityZones"
        )
    endpoints = read.strings("vpcEndpoints", "[ecr.api, ecr.dkr]")
    unknown = [e for e in endpoints if e not in INTERFACE_ENDPOINT_SERVICES]
    if unknown or len(set(endpoints)) != len(endpoints):
        read.problems.append(
            f"vpcEndpoints {endpoints} is invalid: name each of "
            f"{', '.join(INTERFACE_ENDPOINT_SERVICES)} at most once"
        )
        endpoints = []
    elif read.valid("natGateways") and nat_gateways is NatGateways.NONE:
        read.problems.extend(_unreachable(backend.app, region, set(endpoints)))
    return NetworkSettings(
        vpc_cidr=vpc_cidr,
        availability_zones=tuple(zones),
        nat_gateways=nat_gateways,
        region=region,
        interface_endpoints=tuple(endpoints),
        subnet_layout=layout,
    )


def _unreachable(app: AppSource, region: str, endpoints: set[str]) -> list[str]:
    """What the app needs from AWS or the internet that private subnets without NAT cannot
    reach through the stack's endpoints (the S3 gateway endpoint is always there)."""
    problems = []
    fix = "add natGateways: single (about $32.85 a month)"
    if app.image is not None:
        ecr = app.image.ecr
        if ecr is None:
            problems.append(
                f"appImage {app.image.reference!r} comes from a registry on the internet, which "
                f"natGateways none cannot reach: {fix}, or copy the image to ECR in {region}"
            )
        elif ecr["region"] != region:
            problems.append(
                f"appImage {app.image.reference!r} is in ECR in {ecr['region']}, which the "
                f"stack's endpoints in {region} cannot reach: {fix}, or replicate it to {region}"
            )
        elif missing := {"ecr.api", "ecr.dkr"} - endpoints:
            problems.append(
                f"appImage {app.image.reference!r} is pulled from private ECR, and natGateways "
                f"none leaves no path to it: add {', '.join(sorted(missing))} to vpcEndpoints "
                f"(about $7.30 a month each per zone), or {fix}"
            )
    for secret in app.secrets:
        secret_region = secret.name.split(":")[3] if secret.name.startswith("arn:") else region
        if secret_region != region:
            problems.append(
                f"appSecrets {secret.variable} is in {secret_region}, but the stack's "
                f"secretsmanager endpoint answers for {region} only, so with natGateways none "
                f"the fetch never ends: replicate the secret to {region}, or {fix}"
            )
    needed = {SecretStore.SSM_PARAMETER: "ssm", SecretStore.SECRETS_MANAGER: "secretsmanager"}
    for store in sorted({secret.store for secret in app.secrets}):
        if needed[store] not in endpoints:
            problems.append(
                f"appSecrets from {store.value} need a path to it with natGateways none: add "
                f"{needed[store]} to vpcEndpoints, or {fix}"
            )
    return problems


def _read_firewall(read: _ConfigReader, log_retention_days: int) -> EdgeFirewallSettings | None:
    waf_enabled = read.boolean("wafEnabled")
    settings = EdgeFirewallSettings(
        rate_limit=read.integer("wafRateLimit", MIN_RATE_LIMIT, MAX_RATE_LIMIT),
        log_retention_days=log_retention_days,
        log_all_requests=read.boolean("wafLogAllRequests"),
    )
    return settings if waf_enabled else None


def _read_logs(read: _ConfigReader, region: str, retention_days: int) -> LogBucketSettings | None:
    access_logs = read.boolean("accessLogs")
    flow_logs = read.boolean("flowLogs")
    if read.valid("accessLogs", "flowLogs") and flow_logs and not access_logs:
        read.problems.append(
            "flowLogs (true) needs accessLogs: true (flow logs go to the log bucket)"
        )
    if not access_logs:
        return None
    return LogBucketSettings(retention_days=retention_days, flow_logs=flow_logs, region=region)


def _read_domain(read: _ConfigReader) -> DomainSettings | None:
    domain_name = read.text("domainName", lambda _: True, "")  # checked with its zone below
    hosted_zone_name = read.text("hostedZoneName", lambda _: True, "")
    if not domain_name:
        if hosted_zone_name:
            read.problems.append(
                f"hostedZoneName {hosted_zone_name!r} is set but domainName is not"
            )
        return None
    if not hosted_zone_name and is_fqdn(domain_name):
        hosted_zone_name = default_hosted_zone(domain_name)
    read.problems.extend(domain_problems(domain_name, hosted_zone_name))
    return DomainSettings(
        domain_name=domain_name, hosted_zone_name=hosted_zone_name, hosted_zone_id=""
    )


def _shell_command(backend: BackendSettings) -> str:
    """How on-call opens a shell on an instance in this stack, for the alarms' runbooks."""
    if backend.instance_connect:
        return "aws ec2-instance-connect ssh --instance-id <id> --connection-type eice"
    return "no shell path in this stack: set instanceConnect true"


def _read_operations(
    read: _ConfigReader, region: str, backend: BackendSettings, network: NetworkSettings
) -> OperationsSettings:
    alarm_email = read.text(
        "alarmEmail",
        lambda value: value == "" or bool(EMAIL_PATTERN.fullmatch(value)),
        "use an e-mail address such as oncall@example.com, or leave it empty",
    )
    return OperationsSettings(
        region=region,
        shell_command=_shell_command(backend),
        service_unit="backend" if backend.app.builtin else "app",
        alarm_email=alarm_email or None,
        target_5xx_threshold=read.integer("alarmTarget5xxCount", 1, 1_000_000),
        cloudfront_5xx_rate_threshold=read.integer("alarmCloudFront5xxRatePercent", 1, 100),
        evaluation_periods=read.integer("alarmEvaluationPeriods", 1, 60),
    )
