"""What the instances boot, read by the tools that will read it: cloud-init's schema check of the
user data, and systemd's checks of the units it installs.

    cloud-init schema --config-file <user data>            (Debian package cloud-init)
    systemd-analyze verify --root=<root> <root>/etc/systemd/system/<unit>...
    systemd-analyze security --offline=true --threshold=20 [--json=short] <unit file>
                                                            (Debian package systemd)

Each app source renders its own user data: the built-in service (at three ports and health check
paths), a public container image, a private ECR image with secrets from both stores and plain
environment variables, and a team's machine image (without a userDataFile, which is the team's
own document).

`verify` checks that each Exec*= program exists and is executable. This machine is not an Amazon
Linux instance, so the units are verified inside a stand-in root instead of against the host: the
files the user data writes (write_files), plus what the image itself provides to them (python3,
the AWS CLI, and the systemd targets the units depend on), what the `docker` package brings
(docker and docker.service), and for a machine image the team's own app.service as its contract
asks. The host's own files then can neither hide a wrong path nor raise a false alarm. Any output
of `verify` fails the test: it exits 0 on warnings such as an unknown directive, which systemd
ignores at boot.

`security` rates the built-in service's sandbox. The container's app.service is a Docker client
running as root (the container's isolation is Docker's), so it is verified, not rated.

A missing tool skips its tests, naming the Debian package; .ci/run installs both.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.backend.app_source import AppSource, ContainerImage, SecretReference, SecretStore
from components.backend.user_data import (
    APP_DIR,
    SERVER_PATH,
    UNIT_PATH,
    USER_DATA_LIMIT,
    cloud_config,
)

MAX_EXPOSURE = 2.0  # systemd-analyze security's scale: 0 (locked down) to 10 (unprotected)
# The health check path stack_settings accepts at its longest: "/" and 254 characters.
LONGEST_HEALTH_PATH = "/" + ("status/live_probe-v1.0~" * 12)[:254]
REGION = "eu-west-1"
SECRETS = (
    SecretReference("DATABASE_PASSWORD", SecretStore.SSM_PARAMETER, "/orders/db-password"),
    SecretReference(
        "API_KEY",
        SecretStore.SECRETS_MANAGER,
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/api-key-AbCdEf",
    ),
)
ENVIRONMENT = {"LOG_LEVEL": "info", "GREETING": 'it\'s "quoted" $(not run) # not a comment'}
RENDERS: dict[str, tuple[int, str, AppSource]] = {
    "default": (8080, "/health", AppSource()),
    "privileged-port": (80, "/health", AppSource()),
    "longest-health-path": (65535, LONGEST_HEALTH_PATH, AppSource()),
    "public-image": (8080, "/health", AppSource(image=ContainerImage("nginx:1.27"))),
    "private-ecr-image": (
        8080,
        "/health",
        AppSource(
            image=ContainerImage("123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders-api:1.4.2"),
            environment=ENVIRONMENT,
            secrets=SECRETS,
        ),
    ),
    "machine-image": (
        80,
        "/ready",
        AppSource(machine_image="ami-0123456789abcdef0", environment=ENVIRONMENT, secrets=SECRETS),
    ),
}
BUILTIN_RENDERS = [name for name, (_, _, app) in RENDERS.items() if app.builtin]
# What the image and its packages provide to the units: executables (`verify` checks that each
# Exec*= program is one) and units.
IMAGE_EXECUTABLES = ("python3", "aws", "docker")
PACKAGE_UNITS = {"docker.service": "[Service]\nExecStart=/usr/bin/docker\n"}
# A machine image's own unit, as machine_image_cloud_config's docstring asks for it.
TEAM_APP_UNIT = """\
[Unit]
Description=The team's API
[Service]
EnvironmentFile=/etc/app/app.env
EnvironmentFile=/run/app/secrets.env
ExecStart=/usr/bin/team-api
Restart=on-failure
[Install]
WantedBy=multi-user.target
"""
# DefaultDependencies= ties every service to the first three; the unit itself names the others.
IMAGE_TARGETS = (
    "sysinit.target",
    "basic.target",
    "shutdown.target",
    "network-online.target",
    "multi-user.target",
)
# The checks of `security` that the unit fails whatever its settings, and why.
UNAVOIDABLE_EXPOSURES = {
    "RootDirectory=/RootImage=",  # it runs the image's own python3
    "RestrictAddressFamilies=~AF_(INET|INET6)",  # it serves HTTP over TCP
    "PrivateNetwork=",  # on the instance's network
    "IPAddressDeny=",  # to the ALB, from VPC addresses that the security group already limits
    "DeviceAllow=",  # ProtectClock= leaves the real-time clock readable
}
# A port below 1024 needs CAP_NET_BIND_SERVICE on the host, so no user namespace of its own.
NET_BIND_CHECKS = {
    "AmbientCapabilities=",
    "CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)",
    "PrivateUsers=",
}
OVERALL_EXPOSURE = re.compile(r"Overall exposure level for \S+: ([0-9.]+)")
# cloud-init 22.x says "Valid cloud-config: <file>"; later releases "Valid schema <file>".
VALID_SCHEMA = re.compile(r"^Valid (cloud-config|schema)\b", re.MULTILINE)


@dataclass(frozen=True)
class Boot:
    """One rendering of the user data, and the files it writes laid out under `root`."""

    app_port: int
    document: Path  # the cloud-config, as the instance receives it
    root: Path
    units: tuple[Path, ...]  # the units it writes, and for a machine image the team's

    @property
    def unit(self) -> Path:
        """The built-in service's unit."""
        return self.root / UNIT_PATH.lstrip("/")


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed: apt-get install {package}")
    return path


def write(path: Path, content: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(mode)
    return path


def lay_out_instance_root(config: dict[str, Any], root: Path) -> tuple[Path, ...]:
    """The instance's files under `root`; returns the units to verify."""
    written = [
        write(root / entry["path"].lstrip("/"), entry["content"], int(entry["permissions"], 8))
        for entry in config["write_files"]
    ]
    units = [path for path in written if path.suffix == ".service"]
    for name in IMAGE_EXECUTABLES:
        # verify checks only that it is an executable file
        write(root / "usr" / "bin" / name, "#!/bin/sh\n", 0o755)
    system = root / "usr" / "lib" / "systemd" / "system"
    for target_name in IMAGE_TARGETS:
        write(system / target_name, "[Unit]\nDescription=Stand-in for the image's own unit\n")
    for name, content in PACKAGE_UNITS.items():
        write(system / name, content)
    if any(path.name == "app-secrets.service" for path in units):
        units.append(write(system / "app.service", TEAM_APP_UNIT))
        write(root / "usr" / "bin" / "team-api", "#!/bin/sh\n", 0o755)
    return tuple(units)


@pytest.fixture(scope="module")
def boots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Boot]:
    rendered = {}
    for name, (app_port, health_check_path, app) in RENDERS.items():
        directory = tmp_path_factory.mktemp(name)
        text = cloud_config(app_port, health_check_path, app, REGION)
        document = directory / "user-data.yaml"
        document.write_text(text)
        root = directory / "root"
        units = lay_out_instance_root(yaml.safe_load(text), root)
        rendered[name] = Boot(app_port=app_port, document=document, root=root, units=units)
    return rendered


# `cloud-init schema --config-file <file>` for every file, in one run of cloud-init's own entry
# point: the same checks and the same output as the command, without importing cloud-init
# once per file (a third of a second each).
SCHEMA_DRIVER = """
import contextlib, io, json, sys
from cloudinit.cmd.main import main
results = {}
for path in sys.argv[1:]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["cloud-init", "schema", "--config-file", path])
        except SystemExit as exit:
            code = exit.code
    results[path] = [code or 0, out.getvalue(), err.getvalue()]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def schema_checks(boots: dict[str, Boot]) -> dict[str, tuple[int, str, str]]:
    """Exit status, stdout and stderr of `cloud-init schema` for each rendering."""
    cloud_init = Path(tool("cloud-init", "cloud-init"))
    interpreter = cloud_init.read_text().splitlines()[0].removeprefix("#!").split()
    checked = subprocess.run(  # noqa: S603 -- the installed cloud-init, on our own files
        [*interpreter, "-c", SCHEMA_DRIVER, *(str(boot.document) for boot in boots.values())],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results = json.loads(checked.stdout)
    return {name: tuple(results[str(boot.document)]) for name, boot in boots.items()}


def systemd_analyze(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 -- the installed systemd-analyze, on our own files
        [tool("systemd-analyze", "systemd"), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", RENDERS)
def test_user_data_passes_cloud_init_schema_validation(
    schema_checks: dict[str, tuple[int, str, str]], name: str
) -> None:
    returncode, stdout, stderr = schema_checks[name]

    assert returncode == 0, stdout + stderr
    assert VALID_SCHEMA.search(stdout), stdout
    assert "deprecat" not in (stdout + stderr).lower()  # a key a later cloud-init may ignore


@pytest.mark.parametrize("name", RENDERS)
def test_units_pass_systemd_verify_without_a_warning(boots: dict[str, Boot], name: str) -> None:
    boot = boots[name]

    result = systemd_analyze("verify", f"--root={boot.root}", *map(str, boot.units))

    assert boot.units
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_each_app_source_writes_its_units(boots: dict[str, Boot]) -> None:
    written = {name: sorted(unit.name for unit in boot.units) for name, boot in boots.items()}

    assert written == {
        **{name: ["backend.service"] for name in BUILTIN_RENDERS},
        "public-image": ["app.service"],
        "private-ecr-image": ["app.service"],
        "machine-image": ["app-secrets.service", "app.service"],  # the team's, from the image
    }


@pytest.mark.parametrize("name", BUILTIN_RENDERS)
def test_unit_runs_the_file_the_user_data_writes(boots: dict[str, Boot], name: str) -> None:
    [exec_start] = [
        line for line in boots[name].unit.read_text().splitlines() if line.startswith("ExecStart=")
    ]

    program, script = exec_start.removeprefix("ExecStart=").split()[:2]
    assert (program, script) == ("/usr/bin/python3", SERVER_PATH)
    assert (boots[name].root / SERVER_PATH.lstrip("/")).is_file()


@pytest.mark.parametrize("name", BUILTIN_RENDERS)
def test_unit_sandbox_exposure_is_at_most_2(boots: dict[str, Boot], name: str) -> None:
    # --threshold counts tenths: the command itself fails above an exposure of 2.0.
    result = systemd_analyze(
        "security",
        "--offline=true",
        f"--threshold={round(MAX_EXPOSURE * 10)}",
        str(boots[name].unit),
    )

    exposure = OVERALL_EXPOSURE.search(result.stdout)
    assert exposure is not None, result.stdout + result.stderr
    assert float(exposure.group(1)) <= MAX_EXPOSURE, result.stdout
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("name", BUILTIN_RENDERS)
def test_unit_fails_only_the_security_checks_it_cannot_pass(
    boots: dict[str, Boot], name: str
) -> None:
    boot = boots[name]

    result = systemd_analyze("security", "--offline=true", "--json=short", str(boot.unit))

    failed = {check["name"] for check in json.loads(result.stdout) if check["set"] is False}
    assert failed == UNAVOIDABLE_EXPOSURES | (NET_BIND_CHECKS if boot.app_port < 1024 else set())


def unit_setting(unit: Path, directive: str) -> int:
    lines = unit.read_text().splitlines()
    [value] = [line.split("=", 1)[1] for line in lines if line.startswith(f"{directive}=")]
    return int(value)


@pytest.mark.parametrize("name", BUILTIN_RENDERS)
def test_unit_limits_fit_the_services_connection_bound(boots: dict[str, Boot], name: str) -> None:
    # One descriptor a connection, and a few of the service's own; one thread serves them all.
    [bound] = re.findall(r"^MAX_CONNECTIONS = (\d+)$", (APP_DIR / "server.py").read_text(), re.M)

    assert unit_setting(boots[name].unit, "LimitNOFILE") >= int(bound) + 32
    assert 2 <= unit_setting(boots[name].unit, "TasksMax") <= 64


def test_builtin_user_data_fits_ec2_at_the_longest_health_check_path() -> None:
    # The service file makes up most of it; stack_settings refuses a stack whose user data is over.
    assert len(cloud_config(65535, LONGEST_HEALTH_PATH).encode()) <= USER_DATA_LIMIT
