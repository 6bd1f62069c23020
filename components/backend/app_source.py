"""What the instances run: the built-in service, a container image, or a team's machine image.

`AppSource` is read from the stack settings (`appImage`, `machineImage`, `userDataFile`,
`appEnvironment`, `appSecrets`) and decides the launch template's image and user data, and
which reads the instance role may make. It holds names and references only: secret values
are fetched on the instance when the service starts, so none is in user data, the launch
template or the Pulumi state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

# <account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@sha256:digest]
ECR_IMAGE = re.compile(
    r"^(?P<registry>(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com)"
    r"/(?P<repository>[a-z0-9]+(?:[._/-][a-z0-9]+)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


class SecretStore(StrEnum):
    SSM_PARAMETER = "ssm"  # an SSM Parameter Store SecureString, by name
    SECRETS_MANAGER = "secretsmanager"  # a Secrets Manager secret, by ARN


@dataclass(frozen=True)
class SecretReference:
    variable: str  # the environment variable the app reads, e.g. DATABASE_PASSWORD
    store: SecretStore
    name: str  # the parameter name (/orders/db-password) or the secret's ARN


@dataclass(frozen=True)
class ContainerImage:
    reference: str  # as given: registry/repository:tag or registry/repository@sha256:...

    @property
    def ecr(self) -> re.Match[str] | None:
        """The parts of a private ECR reference (registry, account, region, repository)."""
        return ECR_IMAGE.match(self.reference)


@dataclass(frozen=True)
class AppSource:
    image: ContainerImage | None = None  # None: no container
    machine_image: str | None = None  # ami-... or resolve:ssm:<parameter>; None: Amazon Linux
    user_data_file: str | None = None  # with machine_image: the file's text is the user data
    environment: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[SecretReference, ...] = ()

    @property
    def builtin(self) -> bool:
        """The placeholder service of this repository (no image, no machine image)."""
        return self.image is None and self.machine_image is None


# Docker's reference grammar, simplified: [registry[:port]/]path[:tag][@digest], lower-case path.
IMAGE_REFERENCE = re.compile(
    r"^(?:(?P<registry>[a-z0-9.-]+(?::\d+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
AMI_ID = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
SSM_PARAMETER_NAME = re.compile(r"^/?[A-Za-z0-9_.\-/]{1,1011}$")
SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:(?P<region>[a-z0-9-]+):\d{12}:secret:"
    r"[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$"
)
ENVIRONMENT_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# Set by the program itself: the port the app must listen on.
RESERVED_VARIABLES = frozenset({"PORT"})


def parse_image(value: str) -> tuple[ContainerImage | None, list[str]]:
    """`appImage`: empty, or a reference pinned by a tag other than latest, or by a digest."""
    if not value:
        return None, []
    match = IMAGE_REFERENCE.match(value)
    if not match or len(value) > 512:
        return None, [
            f"appImage {value!r} is not an image reference: use registry/repository:tag or "
            "registry/repository@sha256:<digest>, e.g. "
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/orders-api:1.4.2"
        ]
    if not (match["tag"] or match["digest"]) or match["tag"] == "latest":
        return None, [
            f"appImage {value!r} is not pinned: name a version tag (not latest) or a digest, so "
            "a new version changes the launch template and rolls out"
        ]
    return ContainerImage(value), []


SSM_IMAGE_PREFIX = "resolve:ssm:"  # a machineImage named by an SSM parameter, not an AMI id


def image_parameter(machine_image: str | None) -> str | None:
    """The SSM parameter a `resolve:ssm:<name>` machineImage names; None for an AMI id or none."""
    if machine_image and machine_image.startswith(SSM_IMAGE_PREFIX):
        return machine_image.removeprefix(SSM_IMAGE_PREFIX)
    return None


def machine_image_problems(value: str) -> list[str]:
    if not value:
        return []
    parameter = image_parameter(value)
    if AMI_ID.match(value) or (parameter is not None and SSM_PARAMETER_NAME.match(parameter)):
        return []
    return [
        f"machineImage {value!r} is invalid: use an AMI id (ami-0123456789abcdef0) or "
        "resolve:ssm:<parameter name>"
    ]


def _entries(key: str, entries: list[str], problems: list[str]) -> dict[str, str]:
    """`NAME=value` entries as a dict, with a problem for each malformed or repeated name."""
    parsed: dict[str, str] = {}
    for entry in entries:
        name, separator, value = entry.partition("=")
        if not separator or not ENVIRONMENT_NAME.match(name):
            problems.append(
                f"{key} entry {entry!r} is invalid: use NAME=value with NAME matching "
                "[A-Z_][A-Z0-9_]*"
            )
        elif name in parsed or name in RESERVED_VARIABLES:
            reason = "is set by the program" if name in RESERVED_VARIABLES else "is repeated"
            problems.append(f"{key} variable {name} {reason}")
        elif "\n" in value or "\r" in value:
            problems.append(f"{key} variable {name} has a line break; environment files cannot")
        else:
            parsed[name] = value
    return parsed


def parse_environment(entries: list[str]) -> tuple[dict[str, str], list[str]]:
    problems: list[str] = []
    return _entries("appEnvironment", entries, problems), problems


def parse_secrets(entries: list[str]) -> tuple[tuple[SecretReference, ...], list[str]]:
    problems: list[str] = []
    secrets = []
    for variable, reference in _entries("appSecrets", entries, problems).items():
        parameter = reference.removeprefix("ssm:")
        if reference != parameter and SSM_PARAMETER_NAME.match(parameter):
            secrets.append(SecretReference(variable, SecretStore.SSM_PARAMETER, parameter))
        elif SECRET_ARN.match(reference):
            secrets.append(SecretReference(variable, SecretStore.SECRETS_MANAGER, reference))
        else:
            problems.append(
                f"appSecrets {variable}={reference!r} is invalid: use ssm:/parameter/name or a "
                "Secrets Manager secret's full ARN (arn:aws:secretsmanager:<region>:<account>:"
                "secret:<name>-<6 characters>)"
            )
    return tuple(secrets), problems
