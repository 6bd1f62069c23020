"""Runs the real program (or one component) under Pulumi's mocks and records what AWS would get.

Every registered resource is recorded with its inputs exactly as they leave the program (wire
names in camelCase, secrets as Pulumi's secret envelopes), so tests assert on plain values after
the run instead of inside `apply` callbacks that might never be awaited.

Config is loaded the way the Pulumi CLI loads it: the defaults declared in Pulumi.yaml, then the
stack file, then per-test overrides; every value reaches the program as a string. The stack
files the tests run are their own (tests/stacks/), so a team's edits to the shipped
Pulumi.<stack>.yaml files change no expectation; tests/test_project_files.py checks the shipped
files for what holds of any valid stack file.
"""

from __future__ import annotations

import functools
import json
import runpy
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks

from components.backend import AL2023_IMAGE_PARAMETERS
from tests import pulumi_internals

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())
PROJECT_NAME: str = PROJECT["name"]
# The stack files a team edits and deploys, and the copies the tests own (their expectations
# are written against these; edit them only together with the tests).
SHIPPED_STACKS = PROJECT_DIR
TEST_STACKS = PROJECT_DIR / "tests" / "stacks"
pulumi_internals.skip_source_positions()
SECRET_SIG = pulumi_internals.SECRET_SIG
SECRET_VALUE_SIG = pulumi_internals.SECRET_VALUE_SIG
ACCOUNT_ID = "123456789012"
US_EAST_1_ZONES = [f"us-east-1{letter}" for letter in "abcdef"]


# ----------------------------------------------------------------------------------- config
def _wire_value(value: Any) -> str:
    """A config value as the CLI hands it to the program: strings as-is, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def project_defaults() -> dict[str, str]:
    """The defaults declared in Pulumi.yaml's config block, namespaced like the CLI does."""
    defaults: dict[str, str] = {}
    for key, declaration in (PROJECT.get("config") or {}).items():
        full_key = key if ":" in key else f"{PROJECT_NAME}:{key}"
        if isinstance(declaration, dict):
            if "default" in declaration:
                defaults[full_key] = _wire_value(declaration["default"])
        else:
            defaults[full_key] = _wire_value(declaration)
    return defaults


def stack_file_path(stack: str, directory: Path = TEST_STACKS) -> Path:
    return directory / f"Pulumi.{stack}.yaml"


def stack_names(directory: Path = SHIPPED_STACKS) -> list[str]:
    """The stacks with a file (Pulumi.<stack>.yaml) in `directory`, sorted."""
    return sorted(
        path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for path in directory.glob("Pulumi.*.yaml")
    )


def stack_file_config(path: Path) -> dict[str, str]:
    """The config of a stack file merged over the project defaults, as the CLI passes it."""
    stack_file = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    merged = project_defaults()
    merged.update(
        {key: _wire_value(value) for key, value in (stack_file.get("config") or {}).items()}
    )
    return merged


def stack_config(stack: str, directory: Path = TEST_STACKS) -> dict[str, str]:
    """The config of Pulumi.<stack>.yaml (the tests' copy unless told) over the defaults."""
    return stack_file_config(stack_file_path(stack, directory))


def with_overrides(config: Mapping[str, str], overrides: Mapping[str, Any]) -> dict[str, str]:
    """Overrides by short key (`instanceType`) or full key (`aws:region`); None removes a key."""
    merged = dict(config)
    for key, value in overrides.items():
        full_key = key if ":" in key else f"{PROJECT_NAME}:{key}"
        if value is None:
            merged.pop(full_key, None)
        else:
            merged[full_key] = _wire_value(value)
    return merged


# ------------------------------------------------------------------------------ recording
@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    urn: str
    parent_urn: str
    provider: str  # "" for the default provider, else "<provider urn>::<provider id>"
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    ignore_changes: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()  # URNs this resource waits for (explicit or via inputs)
    aliases: tuple[str, ...] = ()  # former names (or URNs) that keep its state
    replace_with: tuple[str, ...] = ()  # URNs whose replacement replaces this resource too
    delete_before_replace: bool = False  # a replacement waits for the old one's deletion

    @property
    def custom(self) -> bool:
        return not self.type.startswith(f"{PROJECT_NAME}:")


@dataclass(frozen=True)
class Invoke:
    token: str
    args: dict[str, Any]


@dataclass
class Run:
    resources: list[Resource] = field(default_factory=list)
    invokes: list[Invoke] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Resource]:
        return [resource for resource in self.resources if resource.type == type_]

    def one(self, type_: str) -> Resource:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Resource:
        found = [resource for resource in self.resources if resource.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def by_urn(self, urn: str) -> Resource:
        return next(resource for resource in self.resources if resource.urn == urn)

    def by_id(self, id_: str) -> Resource:
        found = [r for r in self.resources if r.custom and r.outputs.get("id") == id_]
        assert len(found) == 1, f"expected one resource with id {id_}, found {len(found)}"
        return found[0]


# ----------------------------------------------------------------------- fake AWS answers
def _fake_outputs(type_: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Values AWS computes on create, in realistic shapes, for the attributes the program reads."""
    service = type_.split(":")[1].split("/", maxsplit=1)[0]
    computed: dict[str, Any] = {
        "arn": f"arn:aws:{service}:us-east-1:{ACCOUNT_ID}:{name}",
        "name": inputs.get("name", f"{name}-0a1b2c3"),
    }
    if type_ == "aws:lb/loadBalancer:LoadBalancer":
        computed |= {
            "dnsName": f"{name}-1234567890.us-east-1.elb.amazonaws.com",
            "zoneId": "Z35SXDOTRQ7X7K",
            "arnSuffix": f"app/{name}/50dc6c495c0c9188",
        }
    elif type_ == "aws:lb/targetGroup:TargetGroup":
        computed["arnSuffix"] = f"targetgroup/{name}/73e2d6bc24d8a067"
    elif type_ == "aws:ec2/launchTemplate:LaunchTemplate":
        computed["latestVersion"] = 3
    elif type_ == "aws:cloudfront/distribution:Distribution":
        computed |= {
            "domainName": "d111111abcdef8.cloudfront.net",
            "hostedZoneId": "Z2FDTNDATAQYW2",
        }
    elif type_ == "aws:ec2/eip:Eip":
        computed["allocationId"] = f"eipalloc-{name}"
    elif type_ == "random:index/randomPassword:RandomPassword":
        computed["result"] = f"{name}-Xq7Lm2Vb9Tz4Rk8Wp3Hn6Jd5Fs1Gc0Ya"[
            : int(inputs.get("length", 32))
        ]
    elif type_ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket", f"{name}-0a1b2c3")
        computed |= {
            "bucket": bucket,
            "arn": f"arn:aws:s3:::{bucket}",
            "bucketDomainName": f"{bucket}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{bucket}.s3.us-east-1.amazonaws.com",
        }
    elif type_ == "aws:acm/certificate:Certificate":
        domain = inputs["domainName"]
        computed["domainValidationOptions"] = [
            {
                "domainName": domain,
                "resourceRecordName": f"_a79865eb4cd1a6ab990a45779b4e0b96.{domain}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": "_424c7224e9b0146f9a8808af955727d0.acm-validations.aws.",
            }
        ]
    elif type_ == "aws:route53/record:Record":
        computed["fqdn"] = inputs["name"].rstrip(".")
    elif type_ == MACHINE_IMAGE_TYPE:
        computed["images"] = {
            architecture: {
                "image_id": IMAGE_PARAMETER_AMIS.get(parameter, "ami-0fedcba9876543210"),
                "root_device_name": "/dev/xvda",
            }
            for architecture, parameter in inputs["parameters"].items()
        }
    elif type_ == "aws:wafv2/webAcl:WebAcl":
        computed["arn"] = f"arn:aws:wafv2:us-east-1:{ACCOUNT_ID}:global/webacl/{name}/a1b2c3d4"
    return computed


# The boto3-based resources of components/backend/rollout.py, as the mocks see them.
MACHINE_IMAGE_TYPE = "pulumi-python:dynamic/backend:MachineImage"
ROLLOUT_TYPE = "pulumi-python:dynamic/backend:Rollout"
# What the Amazon Linux 2023 parameters resolve to at deploy time in the mocks.
IMAGE_PARAMETER_AMIS = {
    AL2023_IMAGE_PARAMETERS["arm64"]: "ami-0a1b2c3d4e5f60718",
    AL2023_IMAGE_PARAMETERS["x86_64"]: "ami-08192a3b4c5d6e7f8",
}
RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
AMI_TOKEN = "aws:ec2/getAmi:getAmi"
PARTITION_TOKEN = "aws:index/getPartition:getPartition"
# Images the mocks describe: id -> (architecture, root device). Ubuntu and RHEL boot /dev/sda1.
MACHINE_IMAGES = {
    "ami-0123456789abcdef0": ("arm64", "/dev/xvda"),
    "ami-0a0b0c0d0e0f01234": ("arm64", "/dev/sda1"),
    "ami-0f0e0d0c0b0a09876": ("x86_64", "/dev/xvda"),
}
AVAILABILITY_ZONES_TOKEN = "aws:index/getAvailabilityZones:getAvailabilityZones"
PREFIX_LIST_TOKEN = "aws:ec2/getManagedPrefixList:getManagedPrefixList"
CLOUDFRONT_PREFIX_LIST_ID = "pl-3b927c52"  # its id in us-east-1
ELB_SERVICE_ACCOUNT_TOKEN = "aws:elb/getServiceAccount:getServiceAccount"
ELB_ACCOUNT_US_EAST_1 = "127311923021"  # Elastic Load Balancing's log-delivery account there
ZONE_TOKEN = "aws:route53/getZone:getZone"
CALLER_IDENTITY_TOKEN = "aws:index/getCallerIdentity:getCallerIdentity"
SECURITY_GROUP_TOKEN = "aws:ec2/getSecurityGroup:getSecurityGroup"
VPC_ORIGIN_SERVICE_GROUP_ID = "sg-0c1f2e3d4b5a69788"
HOSTED_ZONES = {"example.com": "Z0123456789EXAMPLE", "b.example.com": "Z0987654321EXAMPLE"}
INSTANCE_TYPE_TOKEN = "aws:ec2/getInstanceType:getInstanceType"
OFFERINGS_TOKEN = "aws:ec2/getInstanceTypeOfferings:getInstanceTypeOfferings"
# Zone ids use a short region code: use1-az1 is the same physical zone in every account.
ZONE_ID_PREFIXES = {"us-east-1": "use1", "us-west-1": "usw1", "eu-west-1": "euw1"}
# use1-az3 runs no Nitro instances, so it offers none of the Nitro families the tests use
# (t2 runs on Xen and is offered there).
ZONES_WITHOUT_NITRO = {"use1-az3"}
NITRO_FAMILIES = {"t4g", "m7g", "c7g", "t3", "t3a", "m7i", "mac2"}
# What EC2's DescribeInstanceTypes reports for the families the tests use.
INSTANCE_FAMILY_ARCHITECTURES = {
    "t4g": ["arm64"],
    "m7g": ["arm64"],
    "c7g": ["arm64"],
    "t3": ["x86_64"],
    "t3a": ["x86_64"],
    "m7i": ["x86_64"],
    "t2": ["i386", "x86_64"],
    "mac2": ["arm64_mac"],
}


# What DescribeInstanceTypes reports as MemoryInfo.SizeInMiB for the general-purpose sizes.
INSTANCE_SIZE_MEMORY_MIB = {
    "nano": 512,
    "micro": 1024,
    "small": 2048,
    "medium": 4096,
    "large": 8192,
}


# An invoke's answer: its result, or ({}, [(property, reason)]) for a failure as AWS reports it.
Answer = dict[str, Any] | tuple[dict[str, Any], list[tuple[str, str]]]
Answers = Mapping[str, Callable[[dict[str, Any]], Answer]]  # by invoke token


def _instance_type(args: dict[str, Any]) -> Answer:
    instance_type = args["instanceType"]
    family = instance_type.split(".")[0]
    if family not in INSTANCE_FAMILY_ARCHITECTURES:
        return {}, [("instanceType", f"reading EC2 Instance Type ({instance_type}): empty result")]
    return {
        "instanceType": instance_type,
        "supportedArchitectures": INSTANCE_FAMILY_ARCHITECTURES[family],
        "memorySize": INSTANCE_SIZE_MEMORY_MIB.get(instance_type.split(".")[1], 16384),
        "id": instance_type,
    }


def zone_ids(zones: list[str]) -> list[str]:
    """The ids the mocks give zones: the n-th zone of a region (by letter) is az<n>."""
    return [
        f"{ZONE_ID_PREFIXES.get(zone[:-1], 'xx1')}-az{ord(zone[-1]) - ord('a') + 1}"
        for zone in zones
    ]


def _offerings(zones: list[str]) -> Callable[[dict[str, Any]], Answer]:
    def answer(args: dict[str, Any]) -> Answer:
        [type_filter] = [f for f in args["filters"] if f["name"] == "instance-type"]
        family = type_filter["values"][0].split(".")[0]
        offered = [
            zone_id
            for zone_id in zone_ids(zones)
            if family in INSTANCE_FAMILY_ARCHITECTURES
            and not (family in NITRO_FAMILIES and zone_id in ZONES_WITHOUT_NITRO)
        ]
        return {"locationType": args["locationType"], "locations": offered, "id": "offerings"}

    return answer


def _prefix_list(args: dict[str, Any]) -> Answer:
    if args.get("name") != "com.amazonaws.global.cloudfront.origin-facing":
        return {}, [("name", f"no managed prefix list named {args.get('name')}")]
    return {
        "id": CLOUDFRONT_PREFIX_LIST_ID,
        "name": args["name"],
        "addressFamily": "IPv4",
        "maxEntries": 55,
        "ownerId": "AWS",
        "arn": f"arn:aws:ec2:us-east-1:aws:prefix-list/{CLOUDFRONT_PREFIX_LIST_ID}",
    }


def _elb_service_account(_: dict[str, Any]) -> Answer:
    return {"id": ELB_ACCOUNT_US_EAST_1, "arn": f"arn:aws:iam::{ELB_ACCOUNT_US_EAST_1}:root"}


def _hosted_zone(args: dict[str, Any]) -> Answer:
    zone = str(args.get("name", "")).rstrip(".")
    if zone not in HOSTED_ZONES:
        return {}, [("name", f"no matching Route 53 Hosted Zone found for {zone}")]
    return {"id": HOSTED_ZONES[zone], "zoneId": HOSTED_ZONES[zone], "name": f"{zone}."}


def _ami(args: dict[str, Any]) -> Answer:
    [image_filter] = [f for f in args["filters"] if f["name"] == "image-id"]
    image_id = image_filter["values"][0]
    if image_id not in MACHINE_IMAGES:
        return {}, [("filters", "Your query returned no results")]
    architecture, root_device = MACHINE_IMAGES[image_id]
    return {
        "id": image_id,
        "imageId": image_id,
        "architecture": architecture,
        "rootDeviceName": root_device,
    }


def _security_group(args: dict[str, Any]) -> Answer:
    if args.get("name") != "CloudFront-VPCOrigins-Service-SG":
        return {}, [("name", f"no matching EC2 Security Group found for {args.get('name')}")]
    return {"id": VPC_ORIGIN_SERVICE_GROUP_ID, "name": args["name"], "vpcId": args.get("vpcId")}


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers resources and invokes like AWS would for this program, recording every call."""

    def __init__(self, run: Run, zones: list[str], answers: Answers | None = None) -> None:
        """`answers` replace the mocks' own for their tokens (scripts/check.py's offline ones)."""
        self._run = run
        self._answers: dict[str, Callable[[dict[str, Any]], Answer]] = {
            AVAILABILITY_ZONES_TOKEN: lambda _: {
                "names": list(zones),
                "zoneIds": zone_ids(zones),
                "id": "zones",
            },
            INSTANCE_TYPE_TOKEN: _instance_type,
            OFFERINGS_TOKEN: _offerings(zones),
            PREFIX_LIST_TOKEN: _prefix_list,
            ELB_SERVICE_ACCOUNT_TOKEN: _elb_service_account,
            ZONE_TOKEN: _hosted_zone,
            SECURITY_GROUP_TOKEN: _security_group,
            AMI_TOKEN: _ami,
            PARTITION_TOKEN: lambda _: {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "id": "aws",
            },
            CALLER_IDENTITY_TOKEN: lambda _: {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/deployer",
                "userId": "AIDAEXAMPLE",
                "id": ACCOUNT_ID,
            },
            **(answers or {}),
        }

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        return f"{args.name}-id", {**args.inputs, **_fake_outputs(args.typ, args.name, args.inputs)}

    def call(self, args: mocks.MockCallArgs) -> Any:  # an Answer; the base class types it narrower
        self._run.invokes.append(Invoke(args.token, dict(args.args)))
        if args.token not in self._answers:
            raise NotImplementedError(f"the mocks do not answer the invoke {args.token}")
        return self._answers[args.token](dict(args.args))


def _alias_names(request: Any) -> tuple[str, ...]:
    """Each alias a registration carries: its former name, else its former type, else its URN."""
    return tuple(
        (alias.spec.name or alias.spec.type) if alias.HasField("spec") else alias.urn
        for alias in request.aliases
    ) + tuple(request.aliasURNs)


class RecordingMonitor(pulumi_internals.MockMonitor):
    """The SDK's mock monitor, also recording each registration's parent and provider."""

    def __init__(self, recording_mocks: RecordingMocks, run: Run) -> None:
        super().__init__(recording_mocks)
        self._run = run
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        registration = self.resources[response.urn]
        with self._lock:
            self._run.resources.append(
                Resource(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent_urn=request.parent,
                    provider=request.provider,
                    inputs=pulumi_internals.deserialize_properties(request.object),
                    outputs={**registration.state, "id": registration.id},
                    ignore_changes=tuple(request.ignoreChanges),
                    dependencies=tuple(request.dependencies),
                    aliases=_alias_names(request),
                    replace_with=tuple(request.replace_with),
                    delete_before_replace=request.deleteBeforeReplace,
                )
            )
        return response


def _run(
    program: Callable[[], Any],
    config: Mapping[str, str],
    stack: str,
    zones: list[str] | None,
    answers: Answers | None = None,
) -> tuple[Run, BaseException | None]:
    run = Run()
    if zones is None:  # the region's zones: six in us-east-1, three elsewhere
        region = config.get("aws:region", "us-east-1")
        zones = US_EAST_1_ZONES if region == "us-east-1" else [f"{region}{z}" for z in "abc"]
    recording_mocks = RecordingMocks(run, zones, answers)
    pulumi.runtime.set_all_config(dict(config))
    pulumi_internals.reset_root_stack()  # a new root stack per run, so exports never leak
    pulumi.runtime.set_mocks(
        recording_mocks,
        project=PROJECT_NAME,
        stack=stack,
        preview=False,
        monitor=RecordingMonitor(recording_mocks, run),
    )

    @pulumi.runtime.test
    def _program() -> pulumi.Output[Any]:
        program()
        outputs = pulumi_internals.root_stack_outputs()
        return pulumi.Output.all(**outputs).apply(run.exports.update)

    try:
        _program()
    except Exception as error:  # noqa: BLE001 - handed to the caller
        return run, error
    return run, None


def run_pulumi(
    program: Callable[[], Any],
    config: Mapping[str, str],
    *,
    stack: str = "test",
    zones: list[str] | None = None,
    answers: Answers | None = None,
) -> Run:
    """Runs `program` under fresh mocks with exactly `config`; returns what it registered."""
    run, error = _run(program, config, stack, zones, answers)
    if error is not None:
        raise error
    return run


def run_pulumi_failing(
    program: Callable[[], Any],
    config: Mapping[str, str],
    *,
    stack: str = "test",
    zones: list[str] | None = None,
) -> tuple[BaseException, Run]:
    """Runs `program` expecting it to fail; returns the error and what was registered anyway."""
    run, error = _run(program, config, stack, zones)
    assert error is not None, "the program was expected to fail but succeeded"
    return error, run


def _main() -> None:
    runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")


def run_main(config: Mapping[str, str], *, stack: str = "test", **kwargs: Any) -> Run:
    """Runs the real __main__.py."""
    return run_pulumi(_main, config, stack=stack, **kwargs)


def run_stack(stack: str, **overrides: Any) -> Run:
    """The program run with a test stack file's config (and overrides). Runs are cached for the
    whole session by the config they get, so overrides that repeat a stack file's values share
    its run; tests must treat runs as read-only."""
    return run_config(stack, with_overrides(stack_config(stack), overrides))


def run_config(stack: str, config: Mapping[str, str]) -> Run:
    """The program run as `stack` with exactly `config`, cached like run_stack."""
    return _run_stack(stack, tuple(sorted(config.items())))


@functools.cache
def _run_stack(stack: str, config: tuple[tuple[str, str], ...]) -> Run:
    return run_main(dict(config), stack=stack)


def run_main_failing(
    config: Mapping[str, str], *, stack: str = "test", **kwargs: Any
) -> tuple[BaseException, Run]:
    """Runs the real __main__.py expecting it to fail."""
    return run_pulumi_failing(_main, config, stack=stack, **kwargs)


def is_secret(value: Any) -> bool:
    """Whether a recorded input travels as a secret (Pulumi encrypts it in the state)."""
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE_SIG


def unwrap_secret(value: Any) -> Any:
    assert is_secret(value), f"expected a secret, got {value!r}"
    return value["value"]
