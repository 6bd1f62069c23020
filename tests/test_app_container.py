"""The app's start-up steps, run here against stand-ins for the AWS CLI and Docker.

The scripts the user data installs (fetch-secrets, container) are rendered, written to a temporary
directory and run as app.service would run them, with `aws` and `docker` first on PATH: small
programs that record their arguments and answer as the real ones would. systemd's
$RUNTIME_DIRECTORY and $CONFIGURATION_DIRECTORY (/run/app and /etc/app on the instance) point at
temporary directories. The stand-in `docker run` reads the environment files as Docker does and,
when asked, starts the built-in server.py on 127.0.0.1 with that environment.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import importlib
import json
import os
import shlex
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.backend.app_source import AppSource, ContainerImage, SecretReference, SecretStore
from components.backend.user_data import (
    APP_DIR,
    CONTAINER_PATH,
    FETCH_SECRETS_PATH,
    PLAIN_ENV_PATH,
    USER_DATA_LIMIT,
    cloud_config,
    rendered_size,
    user_data,
)

# The module, not the function of the same name that components.backend exports.
user_data_module = importlib.import_module("components.backend.user_data")
REGION = "eu-west-1"
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
ECR_IMAGE = f"{REGISTRY}/orders-api:1.4.2"
PUBLIC_IMAGE = "public.ecr.aws/nginx/nginx:1.27"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/api-key-AbCdEf"
SECRETS = (
    SecretReference("DATABASE_PASSWORD", SecretStore.SSM_PARAMETER, "/orders/db-password"),
    SecretReference("API_KEY", SecretStore.SECRETS_MANAGER, SECRET_ARN),
)
# What the stand-in AWS CLI answers, by parameter name or secret ARN.
SECRET_VALUES = {"/orders/db-password": "s3cr3t=with=equals", SECRET_ARN: '{"key": "abc"}'}
HOSTILE = 'it\'s "$(touch pwned)" `touch pwned` $HOME \\ ; | & * ?  two  spaces '
# The rendering of cloud_config(8080, "/health") at the commit before container images: the
# built-in service's launch template must not change (a change would replace every instance).
# If server.py or backend.service changes on purpose, that is a new template: update both.
BUILTIN_SIZE = 15395
BUILTIN_SHA256 = "6530337be467c0863f8681e9b3bfd11d4047d82811804d7aa9a644943668197b"

FAKE_AWS = """\
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_CALLS"], "a") as log:
    log.write(json.dumps({"argv": ["aws", *args]}) + "\\n")
values = json.loads(os.environ["FAKE_VALUES"])
option = {"ssm": "--name=", "secretsmanager": "--secret-id="}.get(args[0])
if args[:2] == ["ecr", "get-login-password"]:
    print("ecr-token")
elif option:
    [name] = [a[len(option):] for a in args if a.startswith(option)]
    if name not in values:
        sys.exit(f"An error occurred (ParameterNotFound): {name}")
    print(values[name])
else:
    sys.exit(f"fake aws: unexpected {args}")
"""
# Docker's --env-file rules (docker/cli opts/envfile.go): one NAME=value a line, the value taken
# literally; blank lines and lines starting with # skipped; -e after the files wins.
FAKE_DOCKER = """\
import json, os, sys
args = sys.argv[1:]
call = {"argv": ["docker", *args], "DOCKER_CONFIG": os.environ.get("DOCKER_CONFIG")}
if args[0] == "login":
    call["stdin"] = sys.stdin.read()
if args[0] == "run":
    environment, index = {}, 1
    while args[index].startswith("-"):
        option = args[index]
        if option in ("--env-file", "-e", "-p", "--name", "--security-opt", "--cap-drop",
                      "--cap-add", "--pids-limit", "--memory"):
            value = args[index + 1]
            index += 2
        else:
            index += 1
            continue
        if option == "--env-file":
            with open(value, encoding="utf-8") as file:
                for line in file.read().split("\\n"):
                    line = line.lstrip()
                    if line and not line.startswith("#"):
                        name, _, variable = line.partition("=")
                        environment[name] = variable
        elif option == "-e":
            name, _, variable = value.partition("=")
            environment[name] = variable
    call["environment"] = environment
with open(os.environ["FAKE_CALLS"], "a") as log:
    log.write(json.dumps(call) + "\\n")
if args[0] == "run" and os.environ.get("FAKE_SERVE"):
    os.execve(
        sys.executable,
        [sys.executable, os.environ["FAKE_SERVE"], "--bind", "127.0.0.1",
         "--port", call["environment"]["PORT"]],
        {**call["environment"], "PATH": os.environ["PATH"]},
    )
"""


@dataclass(frozen=True)
class Instance:
    """The scripts of one rendering, and the stand-in instance they run on."""

    files: dict[str, dict[str, str]]  # write_files, by path
    directory: Path

    @property
    def calls(self) -> list[dict[str, Any]]:
        log = self.directory / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    @property
    def runtime(self) -> Path:  # /run/app
        return self.directory / "run-app"

    def run(
        self, path: str, *arguments: str, values: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 -- our own rendered script
            [str(self.script(path)), *arguments],
            env=self.environment(values),
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )

    def script(self, path: str) -> Path:
        script = self.directory / Path(path).name
        script.write_text(self.files[path]["content"])
        script.chmod(int(self.files[path]["permissions"], 8))
        return script

    def environment(self, values: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
        config = self.directory / "etc-app"
        config.mkdir(exist_ok=True)
        (config / "app.env").write_text(self.files[PLAIN_ENV_PATH]["content"])
        self.runtime.mkdir(mode=0o700, exist_ok=True)
        return {
            "PATH": f"{self.directory / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "RUNTIME_DIRECTORY": str(self.runtime),
            "CONFIGURATION_DIRECTORY": str(config),
            "FAKE_CALLS": str(self.directory / "calls.jsonl"),
            "FAKE_VALUES": json.dumps(SECRET_VALUES if values is None else values),
            **extra,
        }


def render(app: AppSource, app_port: int = 8080) -> dict[str, dict[str, str]]:
    config = yaml.safe_load(cloud_config(app_port, "/health", app, REGION))
    return {entry["path"]: entry for entry in config["write_files"]}


def instance(tmp_path: Path, app: AppSource, app_port: int = 8080) -> Instance:
    bin_directory = tmp_path / "bin"
    bin_directory.mkdir()
    for name, source in (("aws", FAKE_AWS), ("docker", FAKE_DOCKER)):
        # -I -S: no site packages, so each stand-in starts in a few milliseconds.
        (bin_directory / name).write_text(f"#!{sys.executable} -IS\n{source}")
        (bin_directory / name).chmod(0o755)
    return Instance(render(app, app_port), tmp_path)


def container_app(image: str = ECR_IMAGE, **fields: Any) -> AppSource:
    return AppSource(image=ContainerImage(image), **fields)


def start(box: Instance) -> None:
    """app.service's ExecStartPre= lines, then ExecStart=, as systemd runs them: in order."""
    for path, arguments in ((FETCH_SECRETS_PATH, ()), (CONTAINER_PATH, ("prepare",))):
        result = box.run(path, *arguments)
        assert result.returncode == 0, result.stderr
    result = box.run(CONTAINER_PATH, "run")
    assert result.returncode == 0, result.stderr


def started(tmp_path_factory: pytest.TempPathFactory, app: AppSource) -> Instance:
    box = instance(tmp_path_factory.mktemp("instance"), app)
    start(box)
    return box


# Started once, for the tests that only read what the start did: a start runs up to seven
# stand-ins, a few hundredths of a second each.
@pytest.fixture(scope="module")
def private_box(tmp_path_factory: pytest.TempPathFactory) -> Instance:
    """An image of a private ECR registry, with a plain value and secrets, started."""
    app = container_app(environment={"LOG_LEVEL": "info"}, secrets=SECRETS)
    return started(tmp_path_factory, app)


@pytest.fixture(scope="module")
def public_box(tmp_path_factory: pytest.TempPathFactory) -> Instance:
    """A public image on port 8080, started."""
    return started(tmp_path_factory, container_app(PUBLIC_IMAGE))


def exec_lines(unit: str, directive: str) -> list[str]:
    prefix = f"{directive}="
    return [line.removeprefix(prefix) for line in unit.splitlines() if line.startswith(prefix)]


def read_like_systemd(path: Path, cwd: Path) -> dict[str, str]:
    """An EnvironmentFile= in the syntax fetch-secrets and cloud-init write for systemd, read back.

    systemd reads double quotes as the shell does: a backslash escapes " \\ ` and $ (and is kept
    before any other character). bash is that reader here, with nothing else in its environment,
    in `cwd`: a command substitution that escaped the quoting would leave its mark there.
    """
    listing = subprocess.run(  # noqa: S603 -- bash reads our own file
        ["/bin/bash", "-c", 'set -a; source "$1"; env -0', "bash", str(path)],
        env={},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    variables = dict(entry.split("=", 1) for entry in listing.split("\0") if entry)
    return {k: v for k, v in variables.items() if k not in {"PWD", "SHLVL", "_"}}


# ------------------------------------------------------------------------- the unit's commands
def test_unit_runs_the_rendered_scripts_in_order() -> None:
    unit = (APP_DIR / "app.service").read_text()

    assert exec_lines(unit, "ExecStartPre") == [FETCH_SECRETS_PATH, f"{CONTAINER_PATH} prepare"]
    assert exec_lines(unit, "ExecStart") == [f"{CONTAINER_PATH} run"]
    assert exec_lines(unit, "ExecStop") == ["/usr/bin/docker stop app"]
    assert "Restart=on-failure" in unit.splitlines()


def test_private_ecr_image_is_pulled_after_a_login_to_its_registry(private_box: Instance) -> None:
    login, docker_login = (call for call in private_box.calls if "login" in " ".join(call["argv"]))
    assert login["argv"] == ["aws", "ecr", "get-login-password", "--region", REGION]
    assert docker_login["argv"] == [
        "docker", "login", "--username", "AWS", "--password-stdin", REGISTRY,
    ]  # fmt: skip
    assert docker_login["stdin"] == "ecr-token\n"  # the password never is an argument
    # The token is stored on the tmpfs, with the secrets, and leaves with them.
    assert docker_login["DOCKER_CONFIG"] == str(private_box.runtime / "docker")
    pull = [call["argv"] for call in private_box.calls if call["argv"][1] == "pull"]
    assert pull == [["docker", "pull", "--quiet", ECR_IMAGE]]


def test_public_image_is_pulled_without_a_login(public_box: Instance) -> None:
    argvs = [call["argv"] for call in public_box.calls]
    assert argvs[0] == ["docker", "rm", "--force", "app"]  # a container left by a killed client
    assert argvs[1] == ["docker", "pull", "--quiet", PUBLIC_IMAGE]
    assert not [argv for argv in argvs if argv[0] == "aws" or argv[1] == "login"]


def test_container_runs_on_the_app_port_with_both_environment_files(
    private_box: Instance,
) -> None:
    [run] = [call for call in private_box.calls if call["argv"][1] == "run"]
    assert run["argv"] == [
        "docker", "run", "--rm", "--name", "app", "--log-driver=none",
        "--security-opt", "no-new-privileges", "--cap-drop", "ALL", "--cap-add", "CHOWN",
        "--cap-add", "SETUID", "--cap-add", "SETGID", "--pids-limit", "512",
        "--memory", f"{container_memory_kib()}k",
        "-p", "8080:8080", "-e", "PORT=8080",
        "--env-file", str(private_box.directory / "etc-app" / "app.env"),
        "--env-file", str(private_box.runtime / "secrets.env"),
        ECR_IMAGE,
    ]  # fmt: skip
    assert run["environment"] == {
        "PORT": "8080",
        "LOG_LEVEL": "info",
        "DATABASE_PASSWORD": "s3cr3t=with=equals",
        "API_KEY": '{"key": "abc"}',
    }


def container_memory_kib(meminfo: Path = Path("/proc/meminfo")) -> int:
    """The instance's memory but the 256 MiB left to the host (or half, on a small one)."""
    [total] = [int(line.split()[1]) for line in meminfo.read_text().splitlines()
               if line.startswith("MemTotal:")]  # fmt: skip
    return total - min(256 * 1024, total // 2)


def run_argv(box: Instance) -> list[str]:
    """The arguments the start gave `docker run`."""
    [run] = [call for call in box.calls if call["argv"][1] == "run"]
    return run["argv"]


def run_only(box: Instance) -> Instance:
    """ExecStart= after the fetch-secrets that writes the file of secrets it reads: enough for
    `docker run`'s arguments (`container prepare` only pulls)."""
    for path, arguments in ((FETCH_SECRETS_PATH, ()), (CONTAINER_PATH, ("run",))):
        result = box.run(path, *arguments)
        assert result.returncode == 0, result.stderr
    return box


STEP_DOWN = "--cap-drop ALL --cap-add CHOWN --cap-add SETUID --cap-add SETGID"


def test_container_keeps_only_what_stepping_down_from_root_needs(public_box: Instance) -> None:
    argv = run_argv(public_box)

    assert shlex.join(argv).count("--cap-") == 4
    assert STEP_DOWN in shlex.join(argv)
    assert "--security-opt no-new-privileges" in shlex.join(argv)
    assert "--read-only" not in argv  # most images write somewhere: see container.sh


def test_container_below_port_1024_gets_only_net_bind_service(tmp_path: Path) -> None:
    argv = shlex.join(run_argv(run_only(instance(tmp_path, container_app(PUBLIC_IMAGE), 80))))

    assert f"{STEP_DOWN} --cap-add NET_BIND_SERVICE" in argv
    assert argv.count("--cap-add") == 4
    assert "-p 80:80 -e PORT=80" in argv


def test_container_is_limited_in_processes_and_memory(public_box: Instance) -> None:
    argv = shlex.join(run_argv(public_box))

    assert "--pids-limit 512" in argv
    assert f"--memory {container_memory_kib()}k" in argv


@pytest.mark.parametrize(
    ("total_kib", "container_kib"),
    [(1_000_000, 1_000_000 - 262_144), (8_000_000, 8_000_000 - 262_144), (400_000, 200_000)],
)
def test_container_memory_leaves_256_mib_to_the_host_or_half(
    tmp_path: Path, total_kib: int, container_kib: int
) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemTotal:       {total_kib} kB\nMemFree:        1000 kB\n")
    box = instance(tmp_path, container_app(PUBLIC_IMAGE))
    script = box.files[CONTAINER_PATH]
    box.files[CONTAINER_PATH] = {
        **script,
        "content": script["content"].replace("/proc/meminfo", str(meminfo)),
    }

    assert f"--memory {container_kib}k" in shlex.join(run_argv(run_only(box)))
    assert container_memory_kib(meminfo) == container_kib


def test_plain_environment_file_holds_port_and_the_values_exactly() -> None:
    files = render(container_app(environment={"LOG_LEVEL": "info", "GREETING": HOSTILE}))

    plain = files[PLAIN_ENV_PATH]
    assert plain["content"] == (
        "# Written by cloud-init from the stack's appPort and appEnvironment.\n"
        f"PORT=8080\nLOG_LEVEL=info\nGREETING={HOSTILE}\n"  # Docker reads the rest literally
    )
    assert (plain["owner"], plain["permissions"]) == ("root:root", "0600")


# ------------------------------------------------------------------------------------ secrets
def test_secrets_are_fetched_by_name_from_each_store(tmp_path: Path) -> None:
    box = instance(tmp_path, container_app(secrets=SECRETS))

    result = box.run(FETCH_SECRETS_PATH)

    assert result.returncode == 0, result.stderr
    assert [call["argv"] for call in box.calls] == [
        ["aws", "ssm", "get-parameter", "--region", REGION, "--with-decryption",
         "--name=/orders/db-password", "--query", "Parameter.Value", "--output", "text"],
        # The secret's ARN names its region, us-east-1, not the stack's.
        ["aws", "secretsmanager", "get-secret-value", "--region", "us-east-1",
         f"--secret-id={SECRET_ARN}", "--query", "SecretString", "--output", "text"],
    ]  # fmt: skip


def test_secret_values_land_only_in_a_root_only_file_on_the_runtime_directory(
    tmp_path: Path,
) -> None:
    box = instance(tmp_path, container_app(secrets=SECRETS))

    box.run(FETCH_SECRETS_PATH)

    secrets = box.runtime / "secrets.env"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert secrets.read_text().splitlines()[1:] == [
        "DATABASE_PASSWORD=s3cr3t=with=equals",
        'API_KEY={"key": "abc"}',
    ]
    assert sorted(p.name for p in box.runtime.iterdir()) == ["secrets.env"]  # no partial left
    text = cloud_config(8080, "/health", container_app(secrets=SECRETS), REGION)
    assert not [value for value in SECRET_VALUES.values() if value in text]


def test_a_secret_that_cannot_be_fetched_fails_the_start_and_leaves_no_file(
    tmp_path: Path,
) -> None:
    box = instance(tmp_path, container_app(secrets=SECRETS))

    result = box.run(FETCH_SECRETS_PATH, values={"/orders/db-password": "fetched"})

    assert result.returncode != 0
    assert "ParameterNotFound" in result.stderr
    assert list(box.runtime.iterdir()) == []


def test_a_secret_with_a_line_break_is_refused_naming_its_variable(tmp_path: Path) -> None:
    box = instance(tmp_path, container_app(secrets=SECRETS[:1]))

    result = box.run(FETCH_SECRETS_PATH, values={"/orders/db-password": "line one\nINJECTED=1"})

    assert result.returncode != 0
    assert "DATABASE_PASSWORD has a line break" in result.stderr
    assert list(box.runtime.iterdir()) == []


def test_hostile_names_and_values_reach_the_cli_and_the_file_unchanged(tmp_path: Path) -> None:
    name = '/team/it\'s $(touch pwned) `touch pwned` "quoted" ; spaced'
    secret = SecretReference("TOKEN", SecretStore.SSM_PARAMETER, name)
    box = instance(tmp_path, container_app(secrets=(secret,)))

    result = box.run(FETCH_SECRETS_PATH, values={name: HOSTILE})

    assert result.returncode == 0, result.stderr
    assert f"--name={name}" in box.calls[0]["argv"]
    assert (box.runtime / "secrets.env").read_text().splitlines()[1] == f"TOKEN={HOSTILE}"
    assert not (tmp_path / "pwned").exists()


def test_hostile_image_reference_is_one_argument(tmp_path: Path) -> None:
    image = "registry.example/app:1 $(touch pwned); `touch pwned` 'quoted'"
    box = instance(tmp_path, container_app(image))

    start(box)

    assert ["docker", "pull", "--quiet", image] in [call["argv"] for call in box.calls]
    assert box.calls[-1]["argv"][-1] == image
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("value", ["two\nlines", "carriage\rreturn", "nul\0byte"])
def test_plain_value_with_a_line_break_is_refused_naming_its_variable(value: str) -> None:
    app = container_app(environment={"MOTD": value})

    with pytest.raises(ValueError, match="appEnvironment variable MOTD has a line break"):
        cloud_config(8080, "/health", app, REGION)


@pytest.mark.parametrize("name", ["lower", "A=B", "WITH SPACE", "1ST", ""])
def test_variable_names_are_checked_before_they_reach_a_file(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid name"):
        cloud_config(8080, "/health", container_app(environment={name: "x"}), REGION)
    secret = SecretReference(name, SecretStore.SSM_PARAMETER, "/p")
    with pytest.raises(ValueError, match="not a valid name"):
        cloud_config(8080, "/health", container_app(secrets=(secret,)), REGION)


@pytest.mark.parametrize(
    ("environment", "secrets", "problem"),
    [
        ({"PORT": "9000"}, (), "app variable PORT is set by the program"),
        ({}, (SecretReference("PORT", SecretStore.SSM_PARAMETER, "/p"),), "PORT is set by"),
        ({"API_KEY": "plain"}, SECRETS, "app variable API_KEY is set twice"),
    ],
)
def test_a_variable_has_one_value(
    environment: dict[str, str], secrets: tuple[SecretReference, ...], problem: str
) -> None:
    app = container_app(environment=environment, secrets=secrets)

    with pytest.raises(ValueError, match=problem):
        cloud_config(8080, "/health", app, REGION)


# ----------------------------------------------------------------------------- machine images
def test_machine_image_files_are_read_by_systemd_as_written(tmp_path: Path) -> None:
    app = AppSource(
        machine_image="ami-0123456789abcdef0",
        environment={"GREETING": HOSTILE, "LOG_LEVEL": "info"},
        secrets=(SecretReference("TOKEN", SecretStore.SSM_PARAMETER, "/orders/token"),),
    )
    box = instance(tmp_path, app)

    result = box.run(FETCH_SECRETS_PATH, values={"/orders/token": HOSTILE})

    assert result.returncode == 0, result.stderr
    assert read_like_systemd(tmp_path / "etc-app" / "app.env", tmp_path) == {
        "PORT": "8080",
        "GREETING": HOSTILE,
        "LOG_LEVEL": "info",
    }
    assert read_like_systemd(box.runtime / "secrets.env", tmp_path) == {"TOKEN": HOSTILE}
    assert not (tmp_path / "pwned").exists()


def test_machine_image_without_a_file_installs_the_secrets_unit_and_restarts_the_app() -> None:
    app = AppSource(machine_image="ami-0123456789abcdef0")

    config = yaml.safe_load(cloud_config(8080, "/health", app, REGION))

    assert "packages" not in config
    assert config["runcmd"] == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "app-secrets.service"],
        ["systemctl", "restart", "app.service"],
    ]
    unit = (APP_DIR / "app-secrets.service").read_text().splitlines()
    assert {"Before=app.service", "RequiredBy=app.service", "RemainAfterExit=yes"} <= set(unit)


def test_user_data_file_is_the_user_data_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(user_data_module, "REPOSITORY_ROOT", tmp_path)
    (tmp_path / "deploy").mkdir()
    text = "#!/bin/bash\r\necho 'héllo' > /tmp/x\r\n"
    (tmp_path / "deploy" / "user-data.sh").write_bytes(text.encode())
    app = AppSource(machine_image="ami-0123456789abcdef0", user_data_file="deploy/user-data.sh")

    assert cloud_config(8080, "/health", app, REGION) == text
    assert base64.b64decode(user_data(8080, "/health", app, REGION)) == text.encode()


@pytest.mark.parametrize("path", ["../outside.yaml", "/etc/passwd", "deploy/missing.yaml"])
def test_user_data_file_outside_the_repository_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    repository = tmp_path / "repository"
    repository.mkdir()
    (tmp_path / "outside.yaml").write_text("#cloud-config\n")
    monkeypatch.setattr(user_data_module, "REPOSITORY_ROOT", repository)
    app = AppSource(machine_image="ami-0123456789abcdef0", user_data_file=path)

    with pytest.raises(ValueError, match="is not a file of this repository"):
        cloud_config(8080, "/health", app, REGION)


def test_user_data_file_with_environment_is_refused_rather_than_dropped() -> None:
    app = AppSource(
        machine_image="ami-0123456789abcdef0",
        user_data_file="Pulumi.yaml",
        environment={"LOG_LEVEL": "info"},
    )

    with pytest.raises(ValueError, match="appEnvironment and appSecrets would not reach"):
        cloud_config(8080, "/health", app, REGION)


# -------------------------------------------------------------------------- the whole document
def test_builtin_rendering_is_unchanged() -> None:
    text = cloud_config(8080, "/health").encode()

    assert (len(text), hashlib.sha256(text).hexdigest()) == (BUILTIN_SIZE, BUILTIN_SHA256)
    assert cloud_config(8080, "/health", AppSource(), REGION).encode() == text


def test_container_installs_docker_from_the_image_repositories_without_upgrading() -> None:
    config = yaml.safe_load(cloud_config(8080, "/health", container_app(), REGION))

    assert config["packages"] == ["docker"]
    assert (config["package_update"], config["package_upgrade"]) == (False, False)
    assert config["runcmd"] == [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "app.service"],
    ]


@pytest.mark.parametrize(
    "app",
    [
        AppSource(),
        container_app(environment={"LOG_LEVEL": "info"}, secrets=SECRETS),
        AppSource(machine_image="ami-0123456789abcdef0", secrets=SECRETS),
    ],
    ids=["builtin", "container", "machine-image"],
)
def test_rendered_size_is_the_user_data_size(app: AppSource) -> None:
    size = rendered_size(8080, "/health", app, REGION)

    assert size == len(cloud_config(8080, "/health", app, REGION).encode())
    assert size == len(base64.b64decode(user_data(8080, "/health", app, REGION)))


def test_user_data_over_16_kib_is_refused_naming_its_size() -> None:
    app = container_app(environment={"BIG": "x" * USER_DATA_LIMIT})
    size = rendered_size(8080, "/health", app, REGION)

    with pytest.raises(ValueError, match=f"user data is {size} bytes; EC2 accepts at most 16384"):
        user_data(8080, "/health", app, REGION)
    assert size > USER_DATA_LIMIT


# --------------------------------------------------------------------------------- end to end
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_container_answers_the_health_check_on_the_app_port(tmp_path: Path) -> None:
    """The stand-in `docker run` starts server.py, with the container's environment, on PORT."""
    port = free_port()
    box = instance(tmp_path, container_app(environment={"LOG_LEVEL": "info"}), app_port=port)
    for path, arguments in ((FETCH_SECRETS_PATH, ()), (CONTAINER_PATH, ("prepare",))):
        assert box.run(path, *arguments).returncode == 0
    environment = box.environment(FAKE_SERVE=str(APP_DIR / "server.py"))
    server = subprocess.Popen(  # noqa: S603 -- our own rendered script
        [str(box.script(CONTAINER_PATH)), "run"], env=environment, cwd=tmp_path
    )
    try:
        status = None
        deadline = time.monotonic() + 5
        while status is None and time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/health")
                status = connection.getresponse().status
                connection.close()
            except ConnectionRefusedError:
                time.sleep(0.02)
                assert server.poll() is None, "docker run exited"
        assert status == 200
    finally:
        server.kill()  # not terminate(): a graceful shutdown waits out the server's poll interval
        server.wait(timeout=5)
    [run] = [call for call in box.calls if call["argv"][1] == "run"]
    assert f"-p {port}:{port}" in shlex.join(run["argv"])
