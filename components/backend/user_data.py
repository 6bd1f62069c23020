"""The instances' user data: cloud-init that installs what the instances run, and starts it.

What it installs depends on the stack's app (`AppSource`):

- the built-in service: a single standard-library Python file (components/backend/app/server.py)
  run by Amazon Linux 2023's own python3, so booting needs no package download and no internet;
- a container image (`appImage`): Docker from Amazon Linux's own repositories, and app.service,
  which fetches the secrets, pulls the image and runs it (components/backend/app/app.service);
- a team's machine image (`machineImage`): its `userDataFile` verbatim, or else the environment
  files its own app.service reads (see `machine_image_cloud_config` for that contract).

Secrets are referenced by name only: the instance fetches their values when the app starts.
"""

from __future__ import annotations

import base64
import functools
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from string import Template
from typing import Any, Literal

import yaml

from components.backend.app_source import (
    AppSource,
    ContainerImage,
    SecretReference,
    SecretStore,
)

APP_DIR = Path(__file__).parent / "app"
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]  # where userDataFile paths start
SERVER_PATH = "/opt/backend/server.py"
UNIT_PATH = "/etc/systemd/system/backend.service"
USER_DATA_LIMIT = 16 * 1024  # bytes, before base64: the EC2 limit
# Linux lets only CAP_NET_BIND_SERVICE bind below this port (net.ipv4.ip_unprivileged_port_start).
FIRST_UNPRIVILEGED_PORT = 1024
BUILTIN_APP = AppSource()

# A container image or a machine image: where the app's files go on the instance.
PLAIN_ENV_PATH = "/etc/app/app.env"  # appEnvironment and PORT; root only
SECRETS_ENV_PATH = "/run/app/secrets.env"  # appSecrets, fetched at start onto a tmpfs; root only
FETCH_SECRETS_PATH = "/usr/local/libexec/app/fetch-secrets"
CONTAINER_PATH = "/usr/local/libexec/app/container"
APP_UNIT_PATH = "/etc/systemd/system/app.service"
SECRETS_UNIT_PATH = "/etc/systemd/system/app-secrets.service"
ENVIRONMENT_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
LINE_BREAKS = re.compile(r"[\n\r]")
# What reads an environment file: Docker's --env-file takes `NAME=value` literally, systemd's
# EnvironmentFile= reads shell-like quotes (a value with a space or a quote needs them).
Reader = Literal["docker", "systemd"]
# Inside systemd's double quotes a backslash escapes exactly these (SHELL_NEED_ESCAPE in
# systemd's env-file.c), as it does in the shell's.
SYSTEMD_ESCAPED = re.compile(r'(["\\`$])')


class _LiteralDumper(yaml.SafeDumper):
    """Writes multi-line strings as YAML literal blocks, so the user data reads like the files."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    )


_LiteralDumper.add_representer(str, _represent_text)


class _ScriptTemplate(Template):
    """The shell scripts' placeholders are @name: `$` is the shell's own."""

    delimiter = "@"


def _port_privileges(app_port: int) -> str:
    """The unit's capability lines: none at all, unless the port needs one to be bound."""
    if app_port >= FIRST_UNPRIVILEGED_PORT:
        # A user namespace of its own on top: whatever the service runs as, it holds no
        # capability on the host.
        return "CapabilityBoundingSet=\nAmbientCapabilities=\nPrivateUsers=yes"
    # PrivateUsers= would confine the capability to a user namespace that does not own the host's
    # network, where it no longer lets the service bind a low port.
    return (
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"
        "AmbientCapabilities=CAP_NET_BIND_SERVICE\n"
        "PrivateUsers=no"
    )


def service_unit(app_port: int, health_check_path: str) -> str:
    """The systemd unit that runs the built-in service, as written to the instance."""
    return Template((APP_DIR / "backend.service").read_text()).substitute(
        port=app_port,
        health_path=health_check_path,
        port_privileges=_port_privileges(app_port),
    )


def _file(path: str, content: str, permissions: str) -> dict[str, str]:
    return {"path": path, "owner": "root:root", "permissions": permissions, "content": content}


def _document(
    write_files: list[dict[str, str]], runcmd: list[list[str]], packages: list[str] | None = None
) -> str:
    document: dict[str, Any] = {
        # No upgrade at boot: the instances may have no route to the internet, and an instance
        # should boot the packages of its image (a new image rolls out through the template).
        "package_update": False,
        "package_upgrade": False,
        "repo_upgrade": "none",
        **({"packages": packages} if packages else {}),
        "write_files": write_files,
        "runcmd": [["systemctl", "daemon-reload"], *runcmd],
    }
    return "#cloud-config\n" + yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False)


@functools.cache  # pure, and rendered by every program run
def _builtin_cloud_config(app_port: int, health_check_path: str) -> str:
    return _document(
        [
            _file(SERVER_PATH, (APP_DIR / "server.py").read_text(), "0755"),
            _file(UNIT_PATH, service_unit(app_port, health_check_path), "0644"),
        ],
        [["systemctl", "enable", "--now", "backend.service"]],
    )


def _check_name(name: str, setting: str) -> None:
    # The names are written unquoted into the environment files: one with = or a space would
    # set another variable (stack_settings refuses them first).
    if not ENVIRONMENT_NAME.fullmatch(name):
        raise ValueError(f"{setting} variable {name!r} is not a valid name ([A-Z_][A-Z0-9_]*)")


def _env_line(name: str, value: str, reader: Reader, setting: str) -> str:
    _check_name(name, setting)
    if LINE_BREAKS.search(value) or "\0" in value:
        raise ValueError(
            f"{setting} variable {name} has a line break (or NUL): an environment file cannot "
            "hold it"
        )
    if reader == "systemd":
        value = '"' + SYSTEMD_ESCAPED.sub(r"\\\1", value) + '"'
    return f"{name}={value}\n"


def plain_env_file(app_port: int, environment: Mapping[str, str], reader: Reader) -> str:
    """/etc/app/app.env: PORT, then appEnvironment (plain values, not secrets), for `reader`."""
    lines = [
        _env_line(name, value, reader, "appEnvironment") for name, value in environment.items()
    ]
    return (
        "# Written by cloud-init from the stack's appPort and appEnvironment.\n"
        f"PORT={app_port}\n" + "".join(lines)
    )


def _shell(*words: str) -> str:
    return " ".join(shlex.quote(word) for word in words)


def _fetch_command(secret: SecretReference, region: str) -> str:
    """The line of fetch-secrets that fetches one secret, by name, and writes it to the file."""
    if secret.store is SecretStore.SSM_PARAMETER:
        if not region:
            raise ValueError("the stack's region is needed to read SSM parameters")
        aws = ("aws", "ssm", "get-parameter", "--region", region, "--with-decryption")
        fetch = (*aws, f"--name={secret.name}", "--query", "Parameter.Value", "--output", "text")
    else:
        # A secret's full ARN names its region, which may not be the stack's.
        arn = secret.name.split(":")
        secret_region = arn[3] if len(arn) > 3 and arn[3] else region
        aws = ("aws", "secretsmanager", "get-secret-value", "--region", secret_region)
        fetch = (*aws, f"--secret-id={secret.name}", "--query", "SecretString", "--output", "text")
    _check_name(secret.variable, "appSecrets")
    return f"{_shell(*fetch)} | put {_shell(secret.variable)}"


def fetch_secrets_script(secrets: tuple[SecretReference, ...], region: str, reader: Reader) -> str:
    """/usr/local/libexec/app/fetch-secrets: writes $RUNTIME_DIRECTORY/secrets.env for `reader`."""
    fetches = [_fetch_command(secret, region) for secret in secrets]
    return _ScriptTemplate((APP_DIR / "fetch-secrets.sh").read_text()).substitute(
        reader=reader, fetches="\n".join(fetches) or ": no appSecrets"
    )


def container_script(app_port: int, image: ContainerImage) -> str:
    """/usr/local/libexec/app/container: `prepare` (log in, pull) and `run` for app.service."""
    ecr = image.ecr
    return _ScriptTemplate((APP_DIR / "container.sh").read_text()).substitute(
        image=shlex.quote(image.reference),
        registry=shlex.quote(ecr["registry"] if ecr else ""),
        registry_region=shlex.quote(ecr["region"] if ecr else ""),
        port=app_port,
    )


def _app_files(app_port: int, app: AppSource, region: str, reader: Reader) -> list[dict[str, str]]:
    """The plain environment file and the secrets' fetcher (stack_settings checked both first)."""
    names = [*app.environment, *(secret.variable for secret in app.secrets)]
    for name in names:
        if name == "PORT" or names.count(name) > 1:
            # Two values for one name: which one the app sees would depend on the reader.
            reason = "is set by the program (appPort)" if name == "PORT" else "is set twice"
            raise ValueError(f"app variable {name} {reason}")
    return [
        _file(PLAIN_ENV_PATH, plain_env_file(app_port, app.environment, reader), "0600"),
        _file(FETCH_SECRETS_PATH, fetch_secrets_script(app.secrets, region, reader), "0755"),
    ]


def container_cloud_config(
    app_port: int, image: ContainerImage, app: AppSource, region: str
) -> str:
    """Docker and app.service, which runs `image` on `app_port` with the app's environment.

    Docker comes from Amazon Linux 2023's own repositories ("The docker, containerd, and nerdctl
    packages are available to be installed and used on AL2023",
    https://docs.aws.amazon.com/linux/al2023/ug/container.html), at the version locked to the
    image's release like every other package. Those repositories are an S3 bucket in each
    region: /etc/yum.repos.d/amazonlinux.repo's mirror list is on
    al2023-repos-<region>-de612dc2 (github.com/amazonlinux/amazon-linux-2023/issues/535), the
    bucket AWS's own endpoint-policy examples allow for AL2023 (github.com/aws-samples/
    data-perimeter-policy-examples, vpc_endpoint_policies/s3_endpoint_policy.json). So the
    VPC's S3 gateway endpoint serves dnf in private subnets without a route to the internet: it
    routes by S3's address prefix list, whatever the host name (the same issue reports an S3
    interface endpoint's private DNS missing the mirrors' s3.dualstack names). The image itself
    comes from the registry: ECR
    through its ecr.api and ecr.dkr endpoints (its layers from S3, through the gateway), any
    other registry through a NAT gateway.
    """
    return _document(
        [
            *_app_files(app_port, app, region, "docker"),
            _file(CONTAINER_PATH, container_script(app_port, image), "0755"),
            _file(APP_UNIT_PATH, (APP_DIR / "app.service").read_text(), "0644"),
        ],
        [["systemctl", "enable", "--now", "app.service"]],
        packages=["docker"],
    )


def machine_image_cloud_config(app_port: int, app: AppSource, region: str) -> str:
    """The environment of a team's machine image whose own `app.service` runs the app.

    The contract with the image:

    - it runs cloud-init, systemd, bash and the AWS CLI v2 (`aws`, for the secrets);
    - its unit is named `app.service`, enabled (`WantedBy=multi-user.target`), listens on the
      stack's appPort and answers its healthCheckPath, and reads its environment with

          EnvironmentFile=/etc/app/app.env       # PORT and appEnvironment
          EnvironmentFile=/run/app/secrets.env   # appSecrets

      both in systemd's syntax, readable by root only (systemd reads them before it drops to
      the unit's User=);
    - `app-secrets.service`, installed here, fetches the secrets into /run/app/secrets.env
      (a tmpfs). It is ordered before app.service and required by it (`RequiredBy=`), so the
      image's unit needs no dependency of its own; `systemctl restart app-secrets` fetches
      them again and restarts the app.

    At first boot the image's app.service may start before cloud-init has written these files
    (and fail, or start without them): cloud-init restarts it once they are in place.
    """
    return _document(
        [
            *_app_files(app_port, app, region, "systemd"),
            _file(SECRETS_UNIT_PATH, (APP_DIR / "app-secrets.service").read_text(), "0644"),
        ],
        [
            ["systemctl", "enable", "--now", "app-secrets.service"],
            ["systemctl", "restart", "app.service"],
        ],
    )


def team_user_data(user_data_file: str, app: AppSource) -> str:
    """The team's own user data, byte for byte (read as bytes: no newline translation)."""
    if app.environment or app.secrets:
        raise ValueError(
            f"userDataFile {user_data_file!r} is the user data as it is: appEnvironment and "
            "appSecrets would not reach the instance, so set them in that file instead"
        )
    path = (REPOSITORY_ROOT / user_data_file).resolve()
    if not path.is_relative_to(REPOSITORY_ROOT) or not path.is_file():
        raise ValueError(f"userDataFile {user_data_file!r} is not a file of this repository")
    return path.read_bytes().decode()


def cloud_config(
    app_port: int, health_check_path: str, app: AppSource = BUILTIN_APP, region: str = ""
) -> str:
    """The user data, in plain text: a cloud-config document, or the team's userDataFile.

    `region` is the stack's, where the app's SSM parameters are read. The ALB health-checks
    `health_check_path` on `app_port` whatever the app; only the built-in service is told it.
    """
    if app.builtin:
        return _builtin_cloud_config(app_port, health_check_path)
    if app.image is not None:
        return container_cloud_config(app_port, app.image, app, region)
    if app.user_data_file:
        return team_user_data(app.user_data_file, app)
    return machine_image_cloud_config(app_port, app, region)


def rendered_size(
    app_port: int, health_check_path: str, app: AppSource = BUILTIN_APP, region: str = ""
) -> int:
    """The user data's size in bytes, before base64: what EC2 limits to USER_DATA_LIMIT."""
    return len(cloud_config(app_port, health_check_path, app, region).encode())


def user_data(
    app_port: int, health_check_path: str, app: AppSource = BUILTIN_APP, region: str = ""
) -> str:
    """Base64-encoded user data, as launch templates require."""
    text = cloud_config(app_port, health_check_path, app, region).encode()
    if len(text) > USER_DATA_LIMIT:
        raise ValueError(f"user data is {len(text)} bytes; EC2 accepts at most {USER_DATA_LIMIT}")
    return base64.b64encode(text).decode()
