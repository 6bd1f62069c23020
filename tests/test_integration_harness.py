"""The integration harness (tests/integration/) offline: a fake stack stands in for Pulumi and
AWS, so naming, the config copy and its settings file, the skip reasons, the phase report and,
above all, the clean-up after failures and interruptions are checked without deploying anything.

Also here: the Automation API adapter against a stand-in `pulumi` executable (the exact CLI
calls it makes), and the Makefile goals that need the Pulumi CLI saying how to install it.
"""

from __future__ import annotations

import fnmatch
import itertools
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness import TEST_STACKS
from tests.integration import __main__ as integration_cli
from tests.integration import ephemeral
from tests.integration.ephemeral import (
    ConfigCopyError,
    Interrupted,
    LeftoverStackError,
    PhaseTimer,
    Plan,
    SmokeCheckError,
    StackLockedError,
    UpReport,
)
from tests.integration.test_deploy import (
    test_a_copy_of_the_stack_deploys_passes_the_smoke_check_and_is_destroyed as deploy_test,
)

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "cdn-alb-backend"
NOW = datetime(2025, 11, 25, 15, 7, 9, tzinfo=UTC)
NAME = "it-dev-20251125-150709-a1b2c3"
OUTPUTS = {
    "url": "https://d111111abcdef8.cloudfront.net",
    "albDnsName": "backend-alb-1234.us-east-1.elb.amazonaws.com",
}
AWS_KEYS = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example"}


# --- Names ---------------------------------------------------------------------------------


def test_the_name_carries_the_stack_file_the_utc_time_and_a_random_suffix() -> None:
    name = ephemeral.new_stack_name("dev", now=lambda: NOW, token=lambda: "a1b2c3")

    assert name == NAME
    assert ephemeral.STACK_NAME_RULE.fullmatch(name)
    assert ephemeral.created_at(name) == NOW


def test_a_local_clock_is_written_as_utc() -> None:
    local = NOW.astimezone(timezone(timedelta(hours=2)))

    name = ephemeral.new_stack_name("prod", now=lambda: local, token=lambda: "00ff00")

    assert name == "it-prod-20251125-150709-00ff00"


def test_names_made_in_the_same_second_differ() -> None:
    names = {ephemeral.new_stack_name("dev", now=lambda: NOW) for _ in range(10)}

    assert len(names) == 10
    for name in names:
        assert ephemeral.STACK_NAME_RULE.fullmatch(name), name
        assert name.startswith("it-dev-20251125-150709-")


@pytest.mark.parametrize("stack_file", ["dev/prod", "dev prod", "x" * 80])
def test_a_name_pulumi_would_reject_is_refused(stack_file: str) -> None:
    with pytest.raises(ValueError, match="not a valid ephemeral stack name"):
        ephemeral.ephemeral_stack_name(stack_file, NOW, "a1b2c3")


@pytest.mark.parametrize(
    ("stack_name", "created"),
    [
        (NAME, NOW),
        (f"acme/{PROJECT}/{NAME}", NOW),
        ("dev", None),
        ("it-dev", None),
        ("it-dev-20251125-150709", None),
        ("it-dev-20251125-150709-A1B2C3", None),
    ],
)
def test_only_ephemeral_names_have_a_creation_time(stack_name: str, created: datetime) -> None:
    assert ephemeral.created_at(stack_name) == created


# --- Config copy and the copy's settings file ----------------------------------------------


def copy_of(stack_file: str, region: str = "us-east-1") -> dict[str, Any]:
    return ephemeral.ephemeral_config(
        ephemeral.load_stack_file(stack_file, TEST_STACKS), stack_name=NAME, region=region
    )


def test_every_key_of_the_stack_file_is_copied_with_its_type() -> None:
    source = ephemeral.load_stack_file("dev", TEST_STACKS)

    config = copy_of("dev")

    assert config == {
        "aws:region": "us-east-1",
        "aws:defaultTags": {
            "tags": {
                "Project": PROJECT,
                "Environment": "dev",
                "ManagedBy": "pulumi",
                "IntegrationStack": NAME,
            }
        },
        f"{PROJECT}:instanceType": "t4g.nano",
        f"{PROJECT}:minSize": 1,
        f"{PROJECT}:maxSize": 2,
        f"{PROJECT}:desiredCapacity": 1,
        f"{PROJECT}:azCount": 2,
        f"{PROJECT}:availabilityZones": ["use1-az1", "use1-az2"],
        f"{PROJECT}:natGateways": "none",
        f"{PROJECT}:priceClass": "PriceClass_100",
        f"{PROJECT}:wafEnabled": False,
        f"{PROJECT}:deletionProtection": False,
        f"{PROJECT}:accessLogs": False,
    }
    assert list(config) == list(source)  # in the stack file's order
    assert source == ephemeral.load_stack_file("dev", TEST_STACKS)  # the source is not changed


def test_deletion_protection_is_forced_off_even_where_the_stack_file_turns_it_on() -> None:
    assert ephemeral.load_stack_file("prod", TEST_STACKS)[f"{PROJECT}:deletionProtection"] is True

    config = copy_of("prod")

    assert config[f"{PROJECT}:deletionProtection"] is False
    assert config[f"{PROJECT}:wafEnabled"] is True  # the rest stays as prod has it


def test_the_chosen_region_replaces_the_stack_files() -> None:
    assert ephemeral.load_stack_file("staging", TEST_STACKS)["aws:region"] == "eu-west-1"

    assert copy_of("staging", region="us-west-2")["aws:region"] == "us-west-2"


@pytest.mark.parametrize("default_tags", [{}, {"aws:defaultTags": None}, {"aws:defaultTags": {}}])
def test_the_run_tag_is_added_to_a_stack_file_without_tags(default_tags: dict[str, Any]) -> None:
    config = ephemeral.ephemeral_config(default_tags, stack_name=NAME, region="us-east-1")

    assert config["aws:defaultTags"] == {"tags": {"IntegrationStack": NAME}}


# Values the old `pulumi config set --path` copy had to refuse, and a few more.
ODD_VALUES: dict[str, Any] = {
    "aws:defaultTags": {"tags": {"CostCenter": "1234", "Enabled": "true", "Cost Center": "web"}},
    "app:port": "8080",
    "app:exponent": "1e3",
    "app:octal": "0o17",
    "app:yes": "yes",
    "app:date": "2025-11-25",
    "app:count": 3,
    "app:ratio": 0.5,
    "app:strict": True,
    "app:nothing": None,
    "app:limits": {"burst": 5, "team.name": "edge", 'say "hi"': "x", "empty": {}},
    "app:zones": ["use1-az1", "8080", 2, False, []],
    "app:note": "two\nlines",
}


def test_the_settings_file_holds_every_value_with_its_type(tmp_path: Path) -> None:
    config = ephemeral.ephemeral_config(ODD_VALUES, stack_name=NAME, region="eu-west-1")
    path = tmp_path / f"Pulumi.{NAME}.yaml"

    ephemeral.write_stack_settings(path, config)

    text = path.read_text(encoding="utf-8")
    written = yaml.safe_load(text)
    assert written == {"config": config}
    tags = {**ODD_VALUES["aws:defaultTags"]["tags"], "IntegrationStack": NAME}
    assert written["config"] == {
        **ODD_VALUES,
        "aws:defaultTags": {"tags": tags},
        "aws:region": "eu-west-1",
        f"{PROJECT}:deletionProtection": False,
    }
    assert written["config"]["app:port"] == "8080"
    assert written["config"]["app:zones"] == ["use1-az1", "8080", 2, False, []]
    assert text.startswith("# The settings of a throw-away stack")


def test_every_string_in_the_settings_file_is_quoted(tmp_path: Path) -> None:
    """A plain 1e3 or 0o17 is a string to PyYAML but a number to other YAML readers; quoted,
    it is a string to all of them."""
    path = tmp_path / f"Pulumi.{NAME}.yaml"
    ephemeral.write_stack_settings(
        path, ephemeral.ephemeral_config(ODD_VALUES, stack_name=NAME, region="eu-west-1")
    )

    strings = [
        node
        for node in scalar_nodes(yaml.compose(path.read_text(encoding="utf-8")))
        if node.tag == "tag:yaml.org,2002:str"
    ]
    assert {node.value for node in strings} >= {"1e3", "0o17", "yes", "8080", "aws:region"}
    assert {node.style for node in strings} == {'"'}


def scalar_nodes(node: yaml.Node) -> Iterator[yaml.ScalarNode]:
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from scalar_nodes(key)
            yield from scalar_nodes(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from scalar_nodes(item)


def test_an_existing_settings_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / f"Pulumi.{NAME}.yaml"
    path.write_text("config: {}\n", encoding="utf-8")

    with pytest.raises(FileExistsError):
        ephemeral.write_stack_settings(path, copy_of("dev"))

    assert path.read_text(encoding="utf-8") == "config: {}\n"


def test_the_settings_file_is_git_ignored() -> None:
    patterns = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    settings_file = ephemeral.stack_settings_path(NAME).relative_to(ROOT)

    assert any(fnmatch.fnmatch(str(settings_file), pattern) for pattern in patterns)


@pytest.mark.parametrize(
    ("stack_file", "problem"),
    [
        ({f"{PROJECT}:alarmEmail": {"secure": "v1:abc"}}, f"{PROJECT}:alarmEmail is a secret"),
        (
            {"aws:defaultTags": {"tags": {"Token": {"secure": "v1:abc"}}}},
            r"aws:defaultTags\.tags\.Token is a secret, encrypted for its own stack",
        ),
        ({"app:keys": ["a", {"secure": "v1:abc"}]}, r"app:keys\[1\] is a secret"),
        ({f"{PROJECT}:domainName": "api.example.com"}, "same DNS name"),
        ({"aws:defaultTags": "Project=x"}, "needs a map with a map `tags`"),
        ({"aws:defaultTags": {"tags": ["Project"]}}, "needs a map with a map `tags`"),
    ],
)
def test_what_cannot_be_copied_faithfully_is_refused(
    stack_file: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigCopyError, match=problem):
        ephemeral.ephemeral_config(stack_file, stack_name=NAME, region="us-east-1")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"INTEGRATION_REGION": "eu-west-1", "AWS_REGION": "us-west-2"},
            ("eu-west-1", "INTEGRATION_REGION"),
        ),
        ({"INTEGRATION_REGION": "", "AWS_REGION": "us-west-2"}, ("us-west-2", "AWS_REGION")),
        ({}, ("eu-west-1", "the stack file's aws:region")),
    ],
)
def test_region_comes_from_the_environment_before_the_stack_file(
    env: dict[str, str], expected: tuple[str, str]
) -> None:
    assert ephemeral.choose_region(env, {"aws:region": "eu-west-1"}) == expected


def test_plan_from_env_copies_the_chosen_stack_file(tmp_path: Path) -> None:
    env = {"INTEGRATION_STACK": "prod", "INTEGRATION_RECORD_FILE": str(tmp_path / "record")}

    plan = ephemeral.plan_from_env(
        env, project_dir=TEST_STACKS, name=lambda stack_file: f"it-{stack_file}-x"
    )

    assert plan.stack_file == "prod"
    assert plan.stack_name == "it-prod-x"
    assert (plan.region, plan.region_source) == ("us-east-1", "the stack file's aws:region")
    assert plan.config[f"{PROJECT}:instanceType"] == "t4g.small"
    assert plan.settings_file == TEST_STACKS / "Pulumi.it-prod-x.yaml"
    assert not plan.settings_file.exists()  # written by the run, not the plan
    assert plan.record_file == tmp_path / "record"


def test_plan_from_env_defaults_to_dev() -> None:
    assert ephemeral.plan_from_env({}).stack_file == "dev"


def test_an_unknown_stack_file_lists_the_real_ones() -> None:
    choices = re.escape(", ".join(ephemeral.available_stack_files()))
    with pytest.raises(
        ConfigCopyError, match=rf"Pulumi\.nosuch\.yaml \(choose one of: {choices}\)"
    ):
        ephemeral.plan_from_env({"INTEGRATION_STACK": "nosuch"})


def test_ephemeral_stack_files_are_not_offered(tmp_path: Path) -> None:
    for stack in ("dev", "prod", NAME):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text("config: {}\n", encoding="utf-8")

    assert ephemeral.available_stack_files(tmp_path) == ["dev", "prod"]


# --- Prerequisites and skip reasons --------------------------------------------------------


@pytest.fixture(autouse=True)
def aws_dir(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each test's own AWS environment: none of this machine's AWS_* variables, shared config
    and credentials files in a folder of its own (empty until a test writes them), and no
    instance metadata service for botocore's credential chain to try (169.254.169.254)."""
    for variable in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(variable)
    directory = tmp_path_factory.mktemp("aws")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(directory / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(directory / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return directory


def on_path(name: str) -> str | None:
    return f"/usr/local/bin/{name}"


def nowhere(name: str) -> str | None:
    return None


def found() -> str | None:
    return None


def not_found() -> str | None:
    return "no AWS credentials: botocore's credential chain found none"


def test_nothing_is_missing_when_opted_in_with_the_cli_and_credentials() -> None:
    env = {"PULUMI_INTEGRATION": "1"}

    assert ephemeral.missing_prerequisites(env, which=on_path, credentials_problem=found) == []


@pytest.mark.parametrize(
    ("env", "which", "credentials", "missing"),
    [
        (
            {},
            on_path,
            found,
            [
                "PULUMI_INTEGRATION=1 is not set (`make integration` sets it; AWS credentials are "
                "checked once it is)"
            ],
        ),
        ({"PULUMI_INTEGRATION": "true"}, on_path, found, ["PULUMI_INTEGRATION=1 is not"]),
        (
            {"PULUMI_INTEGRATION": "1"},
            nowhere,
            found,
            ["the pulumi CLI is not on PATH (install: curl -fsSL https://get.pulumi.com | sh"],
        ),
        ({"PULUMI_INTEGRATION": "1"}, on_path, not_found, ["no AWS credentials: botocore's"]),
        # Not enabled: the credentials are not looked for, so nothing is said of them.
        ({}, nowhere, not_found, ["PULUMI_INTEGRATION=1 is not set", "the pulumi CLI is not"]),
    ],
)
def test_each_missing_prerequisite_is_named(
    env: dict[str, str],
    which: Callable[[str], str | None],
    credentials: Callable[[], str | None],
    missing: list[str],
) -> None:
    reasons = ephemeral.missing_prerequisites(env, which=which, credentials_problem=credentials)

    assert len(reasons) == len(missing), reasons
    for reason, start in zip(reasons, missing, strict=True):
        assert reason.startswith(start)


@pytest.mark.parametrize(
    ("env", "require_opt_in", "asked"),
    [
        ({}, True, False),
        ({"PULUMI_INTEGRATION": "0"}, True, False),
        ({"PULUMI_INTEGRATION": "1"}, True, True),
        ({}, False, True),  # the `check` command, which `make integration` runs
    ],
)
def test_the_credential_chain_is_asked_only_for_an_enabled_run(
    env: dict[str, str], require_opt_in: bool, asked: bool
) -> None:
    calls: list[str] = []

    def credentials() -> str | None:
        calls.append("asked")
        return None

    ephemeral.missing_prerequisites(
        env, which=on_path, credentials_problem=credentials, require_opt_in=require_opt_in
    )

    assert calls == (["asked"] if asked else [])


def test_the_cli_hint_names_both_installers_and_the_docs() -> None:
    [reason] = ephemeral.missing_prerequisites(
        {"PULUMI_INTEGRATION": "1"}, which=nowhere, credentials_problem=found
    )

    assert "brew install pulumi/tap/pulumi" in reason
    assert "https://www.pulumi.com/docs/iac/download-install/" in reason


# botocore's own chain, offline: each source it is given here answers without a network call
# (a role, SSO and web identity are only assumed when first used).
CREDENTIAL_PROCESS = (
    'import json; print(json.dumps({"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "S"}))'
)
PROFILES = {
    "sso": (
        "[profile deploy]\nsso_session = corp\nsso_account_id = 123456789012\n"
        "sso_role_name = Deploy\n[sso-session corp]\n"
        "sso_start_url = https://example.awsapps.com/start\nsso_region = us-east-1\n"
    ),
    "role": (
        "[profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\n"
        "source_profile = base\n[profile base]\naws_access_key_id = A\n"
        "aws_secret_access_key = S\n"
    ),
    "credential_process": "[profile deploy]\ncredential_process = {python} {script}\n",
}


def test_keys_in_the_environment_are_found(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in AWS_KEYS.items():
        monkeypatch.setenv(variable, value)

    assert ephemeral.aws_credentials_problem() is None


def test_a_default_profile_in_the_credentials_file_is_found(aws_dir: Path) -> None:
    (aws_dir / "credentials").write_text(
        "[default]\naws_access_key_id = A\naws_secret_access_key = S\n", encoding="utf-8"
    )

    assert ephemeral.aws_credentials_problem() is None


@pytest.mark.parametrize("source", sorted(PROFILES))
def test_aws_profile_finds_its_profile_whatever_its_source(
    source: str, aws_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = aws_dir / "credentials.py"
    script.write_text(CREDENTIAL_PROCESS, encoding="utf-8")
    profiles = PROFILES[source].format(python=sys.executable, script=script)
    (aws_dir / "config").write_text(profiles, encoding="utf-8")
    monkeypatch.setenv("AWS_PROFILE", "deploy")

    assert ephemeral.aws_credentials_problem() is None


def test_web_identity_from_the_environment_is_found(
    aws_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (aws_dir / "token").write_text("eyJ...", encoding="utf-8")
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/deploy")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(aws_dir / "token"))

    assert ephemeral.aws_credentials_problem() is None


def test_no_credentials_anywhere_are_reported_missing_without_a_network_call(
    aws_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (aws_dir / "config").write_text("[default]\nregion = us-east-1\n", encoding="utf-8")
    connections: list[object] = []

    def connect(self: socket.socket, address: object) -> None:
        connections.append(address)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", connect)

    assert ephemeral.aws_credentials_problem() == (
        "no AWS credentials: botocore's credential chain found none (environment, profile, SSO, "
        "credential_process, web identity, container or instance metadata)"
    )
    assert connections == []


def test_a_key_id_without_its_secret_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "A")

    assert ephemeral.aws_credentials_problem() == (
        "AWS credentials: Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY"
    )


def test_a_profile_that_does_not_exist_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "other")

    assert ephemeral.aws_credentials_problem() == (
        "AWS credentials: The config profile (other) could not be found"
    )


def test_the_pytest_entry_skips_naming_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_INTEGRATION", raising=False)

    with pytest.raises(
        pytest.skip.Exception, match="not run: PULUMI_INTEGRATION=1 is not set"
    ) as skip:
        deploy_test()

    assert "AWS credentials are checked once it is" in str(skip.value)
    assert "no AWS credentials" not in str(skip.value)


def test_check_command_fails_naming_the_problems(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("INTEGRATION_STACK", "nosuch")

    assert integration_cli.main(["check"]) == 1

    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "integration: the pulumi CLI is not on PATH",
        "integration: no AWS credentials: botocore's credential chain found none",
        "integration: no stack file Pulumi.nosuch.yaml",
    ]


def test_check_command_passes_when_all_is_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_pulumi(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    for variable, value in AWS_KEYS.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("INTEGRATION_STACK", "staging")

    assert integration_cli.main(["check"]) == 0


# --- The run, with a fake stack ------------------------------------------------------------


@dataclass
class FakeStack:
    """Records what the harness asks for; `during_*` hooks fail or interrupt on cue."""

    name: str
    calls: list[str] = field(default_factory=list)
    during_up: Callable[[], None] | None = None
    destroy_failures: list[BaseException] = field(default_factory=list)  # one per attempt
    during_destroy: Callable[[], None] | None = None

    def up(self, on_output: Callable[[str], None]) -> UpReport:
        self.calls.append("up")
        on_output("+ aws:ec2/vpc:Vpc network-vpc created")
        if self.during_up:
            self.during_up()
        return UpReport(resource_changes={"create": 42}, outputs=dict(OUTPUTS))

    def resource_count(self) -> int:
        return 42

    def destroy(self, on_output: Callable[[str], None]) -> None:
        self.calls.append("destroy")
        if self.during_destroy:
            self.during_destroy()
        if self.destroy_failures:
            raise self.destroy_failures.pop(0)

    def cancel(self) -> None:
        self.calls.append("cancel")

    def remove(self) -> None:
        self.calls.append("remove")


@dataclass
class Run:
    """One deploy_and_prove call against a FakeStack, with a clock that ticks 2.5 s a read; the
    copy's settings file goes to `directory`, and the fake reads it when the stack is created."""

    directory: Path
    stack: FakeStack = field(default_factory=lambda: FakeStack(NAME))
    smoke_status: int = 0
    lines: list[str] = field(default_factory=list)
    smoke_inputs: list[dict[str, Any]] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)
    record_file: Path | None = None
    create_error: BaseException | None = None
    settings_at_create: dict[str, Any] | None = None

    @property
    def settings_file(self) -> Path:
        return self.directory / f"Pulumi.{NAME}.yaml"

    def plan(self) -> Plan:
        return Plan(
            stack_file="dev",
            stack_name=NAME,
            region="us-east-1",
            region_source="AWS_REGION",
            config=copy_of("dev"),
            settings_file=self.settings_file,
            record_file=self.record_file,
        )

    def create(self, stack_name: str) -> FakeStack:
        assert stack_name == NAME
        # What `pulumi stack init` finds: the settings file is there before the stack.
        self.settings_at_create = yaml.safe_load(self.settings_file.read_text(encoding="utf-8"))
        if self.create_error:
            raise self.create_error
        self.stack.calls.append("create")
        return self.stack

    def smoke(self, outputs: Any) -> int:
        self.smoke_inputs.append(dict(outputs))
        return self.smoke_status

    def __call__(self) -> ephemeral.RunResult:
        ticks = itertools.count(0.0, 2.5)
        return ephemeral.deploy_and_prove(
            self.plan(),
            self.create,
            smoke_check=self.smoke,
            out=self.lines.append,
            clock=lambda: next(ticks),
            pause=self.pauses.append,
        )


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return Run(tmp_path)


EVERYTHING = ["create", "up", "destroy", "remove"]


def test_a_good_run_deploys_checks_the_outputs_and_cleans_up(run: Run) -> None:
    result = run()

    assert run.stack.calls == EVERYTHING
    assert run.smoke_inputs == [OUTPUTS]
    assert result.smoke_exit_status == 0
    assert result.resource_count == 42
    assert result.resource_changes == {"create": 42}
    assert not run.settings_file.exists()


def test_the_stack_is_created_on_a_settings_file_with_the_copys_config(run: Run) -> None:
    run()

    config = copy_of("dev")
    assert run.settings_at_create == {"config": config}
    assert config[f"{PROJECT}:deletionProtection"] is False
    assert config["aws:defaultTags"]["tags"]["IntegrationStack"] == NAME


def test_each_phase_time_and_the_resource_count_are_printed(run: Run) -> None:
    result = run()

    assert [(p.name, p.seconds, p.outcome) for p in result.phases] == [
        ("create stack", 2.5, "ok"),
        ("up", 2.5, "ok"),
        ("smoke check", 2.5, "ok"),
        ("destroy", 2.5, "ok"),
        ("remove stack", 2.5, "ok"),
    ]
    assert "[integration] up: ok in 2.5s" in run.lines
    assert "[integration] resources: 42 in the stack (create=42)" in run.lines
    assert "+ aws:ec2/vpc:Vpc network-vpc created" in run.lines  # up's output streams through
    assert run.lines[-7:] == [
        "[integration] phase            seconds  outcome",
        "[integration] create stack         2.5  ok",
        "[integration] up                   2.5  ok",
        "[integration] smoke check          2.5  ok",
        "[integration] destroy              2.5  ok",
        "[integration] remove stack         2.5  ok",
        "[integration] total               12.5",
    ]


def test_a_failed_up_is_still_destroyed_and_removed(run: Run) -> None:
    run.stack.during_up = fail_with(RuntimeError("up failed: AccessDenied"))

    with pytest.raises(RuntimeError, match="AccessDenied"):
        run()

    assert run.stack.calls == EVERYTHING
    assert run.smoke_inputs == []
    assert "[integration] up: failed in 2.5s" in run.lines
    assert not run.settings_file.exists()


def test_a_failed_smoke_check_fails_the_run_after_the_clean_up(run: Run) -> None:
    run.smoke_status = 1

    with pytest.raises(SmokeCheckError, match="exit status 1"):
        run()

    assert run.stack.calls == EVERYTHING
    assert not run.settings_file.exists()


def test_ctrl_c_during_up_destroys_and_removes_then_stops(run: Run) -> None:
    run.stack.during_up = fail_with(KeyboardInterrupt())

    with pytest.raises(KeyboardInterrupt):
        run()

    assert run.stack.calls == EVERYTHING
    assert "[integration] up: interrupted in 2.5s" in run.lines
    assert not run.settings_file.exists()


def test_sigterm_during_up_destroys_and_removes_then_stops(run: Run) -> None:
    run.stack.during_up = lambda: os.kill(os.getpid(), signal.SIGTERM)
    unhandled: list[int] = []

    with sigterm_fallback(unhandled), pytest.raises(Interrupted, match="SIGTERM"):
        run()

    assert unhandled == []
    assert run.stack.calls == EVERYTHING
    assert not run.settings_file.exists()


@pytest.fixture(autouse=True)
def ctrl_c_raises_keyboard_interrupt() -> Iterator[None]:
    """Ctrl-C as in a terminal, whatever this process inherited: a shell that starts a job in
    the background (`cmd &`) makes it ignore SIGINT, and Python then installs no handler."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_during_the_destroy_does_not_cut_it_short(run: Run) -> None:
    run.stack.during_destroy = lambda: os.kill(os.getpid(), signal.SIGINT)

    try:
        run()
    except KeyboardInterrupt:  # let the test fail instead of stopping the whole session
        pytest.fail("Ctrl-C during the destroy interrupted the clean-up")

    assert run.stack.calls == EVERYTHING
    notices = [line for line in run.lines if line.startswith("[integration] SIGINT")]
    assert notices == [
        f"[integration] SIGINT during the clean-up of {NAME}: carrying on (whatever is left, "
        "`make integration-cleanup` destroys later)"
    ]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert not run.settings_file.exists()


def test_a_failed_destroy_keeps_the_stack_and_says_how_to_finish(run: Run) -> None:
    run.stack.destroy_failures = [RuntimeError("DependencyViolation")]

    with pytest.raises(LeftoverStackError, match=f"pulumi destroy --stack {NAME}"):
        run()

    assert run.stack.calls == ["create", "up", "destroy"]  # no remove
    assert "[integration] clean-up failed: DependencyViolation" in run.lines
    assert any(f"Key=IntegrationStack,Values={NAME}" in line for line in run.lines)
    # The stack's settings (its secrets provider among them) stay for its clean-up, whose
    # `pulumi stack rm` deletes them.
    assert yaml.safe_load(run.settings_file.read_text(encoding="utf-8")) == run.settings_at_create
    assert f"[integration] Pulumi.{NAME}.yaml stays for the stack's clean-up" in run.lines


def test_a_failed_destroy_does_not_hide_why_the_run_failed(run: Run) -> None:
    run.stack.during_up = fail_with(RuntimeError("up failed"))
    run.stack.destroy_failures = [RuntimeError("destroy failed")]

    with pytest.raises(RuntimeError, match="up failed"):
        run()

    assert "[integration] clean-up failed: destroy failed" in run.lines


def test_the_destroy_waits_for_an_interrupted_operation_to_release_the_lock(run: Run) -> None:
    run.stack.destroy_failures = [StackLockedError("locked"), StackLockedError("locked")]

    run()

    assert run.pauses == [30.0, 30.0]
    assert run.stack.calls == ["create", "up", "destroy", "destroy", "destroy", "remove"]


def test_a_lock_that_outlasts_the_wait_is_cancelled() -> None:
    stack = FakeStack(NAME, destroy_failures=[StackLockedError("locked")] * 3)
    pauses: list[float] = []

    cleaned = ephemeral.tear_down(
        stack,
        PhaseTimer(lambda line: None),
        out=lambda line: None,
        pause=pauses.append,
        lock_wait=60,
    )

    assert cleaned
    assert pauses == [30.0, 30.0]
    assert stack.calls == ["destroy", "destroy", "destroy", "cancel", "destroy", "remove"]


@pytest.mark.parametrize("error", [RuntimeError("no backend"), KeyboardInterrupt()])
def test_a_stack_that_was_never_created_needs_no_clean_up_but_its_settings_file_goes(
    run: Run, tmp_path: Path, error: BaseException
) -> None:
    run.record_file = tmp_path / "record"
    run.create_error = error

    with pytest.raises(type(error)):
        run()

    assert run.stack.calls == []
    assert run.settings_at_create == {"config": copy_of("dev")}
    assert not run.settings_file.exists()
    # Recorded before creating: a later clean-up must also find a half-created stack.
    assert (tmp_path / "record").read_text(encoding="utf-8") == f"{NAME}\n"


def test_a_settings_file_already_there_stops_the_run_before_anything(run: Run) -> None:
    run.settings_file.write_text("config: {}\n", encoding="utf-8")

    with pytest.raises(FileExistsError, match=f"Pulumi.{NAME}.yaml exists already"):
        run()

    assert run.settings_at_create is None  # no stack created
    assert run.settings_file.read_text(encoding="utf-8") == "config: {}\n"


def fail_with(error: BaseException) -> Callable[[], None]:
    def fail() -> None:
        raise error

    return fail


@dataclass
class sigterm_fallback:  # noqa: N801 -- used like the context manager function it stands in for
    """Catches a SIGTERM the harness failed to handle, instead of it killing pytest."""

    unhandled: list[int]

    def __enter__(self) -> None:
        self.previous = signal.signal(
            signal.SIGTERM, lambda signum, frame: self.unhandled.append(signum)
        )

    def __exit__(self, *exc_info: object) -> None:
        signal.signal(signal.SIGTERM, self.previous)


# --- The smoke check, for real -------------------------------------------------------------


def test_the_smoke_check_reads_the_outputs_on_stdin_and_its_status_is_returned(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Without `url` the script stops at once with status 2 (bad usage): no request is made.
    status = ephemeral.run_smoke_check({"albDnsName": OUTPUTS["albDnsName"]})

    assert status == 2
    assert "no string `url`" in capfd.readouterr().err


# --- Leftovers from earlier runs -----------------------------------------------------------


def test_leftovers_are_the_recorded_stack_and_abandoned_copies_only() -> None:
    recent = "it-dev-20251125-150000-aaaaaa"
    abandoned = "it-prod-20251125-080000-bbbbbb"
    names = ["dev", "prod", NAME, recent, f"acme/{PROJECT}/{abandoned}", "it-dev-weird"]

    leftovers = ephemeral.leftover_stacks(names, recorded=[f"{NAME}\n", ""], now=NOW)

    assert leftovers == [NAME, f"acme/{PROJECT}/{abandoned}"]


@dataclass
class FakeDirectory:
    stacks: dict[str, FakeStack]

    def stack_names(self) -> list[str]:
        return [*self.stacks, "dev", "prod"]

    def select(self, stack_name: str) -> FakeStack:
        return self.stacks[stack_name]


def test_the_clean_up_cancels_a_dead_runs_lock_at_once() -> None:
    locked = FakeStack(NAME, destroy_failures=[StackLockedError("locked")])
    directory = FakeDirectory({NAME: locked})

    all_gone = ephemeral.clean_up_leftovers(
        directory, recorded=[NAME], now=NOW, out=lambda line: None
    )

    assert all_gone
    assert locked.calls == ["destroy", "cancel", "destroy", "remove"]


def test_the_clean_up_reports_a_stack_it_could_not_destroy() -> None:
    broken = FakeStack(NAME, destroy_failures=[RuntimeError("AccessDenied")])
    old = FakeStack("it-dev-20251124-000000-cccccc")
    directory = FakeDirectory({NAME: broken, old.name: old})
    lines: list[str] = []

    all_gone = ephemeral.clean_up_leftovers(directory, recorded=[NAME], now=NOW, out=lines.append)

    assert not all_gone
    assert old.calls == ["destroy", "remove"]  # one failure does not stop the others
    assert lines[0] == f"[integration] 2 leftover ephemeral stack(s) {NAME} {old.name}"


# --- Makefile: the goals that need the Pulumi CLI ------------------------------------------


def fake_pulumi(directory: Path) -> None:
    script = directory / "pulumi"
    script.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def path_without_pulumi() -> str:
    directories = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(d for d in directories if not (Path(d) / "pulumi").exists())


def make(*args: str, path: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("make")
    assert executable is not None
    # Under `make test` the parent make's variables would turn this into a sub-make.
    inherited = {k: v for k, v in os.environ.items() if k not in MAKE_VARIABLES}
    # The arguments are fixed goals of this repository's Makefile.
    return subprocess.run(  # noqa: S603
        [executable, "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**inherited, "PATH": path},
        check=False,
    )


MAKE_VARIABLES = frozenset({"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES"})
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@needs_make
@pytest.mark.parametrize("goal", ["up", "preview", "destroy", "integration", "integration-cleanup"])
def test_a_pulumi_goal_without_the_cli_says_how_to_install_it(goal: str) -> None:
    result = make(goal, "STACK=dev", path=path_without_pulumi())

    assert result.returncode != 0
    assert result.stdout.splitlines() == [
        f"`make {goal}` needs the Pulumi CLI, which is not on PATH. Install it:",
        "  curl -fsSL https://get.pulumi.com | sh    (Linux, macOS; then open a new shell)",
        "  brew install pulumi/tap/pulumi           (macOS, Linux with Homebrew)",
        "More ways: https://www.pulumi.com/docs/iac/download-install/",
    ]
    assert "the Pulumi CLI is not installed.  Stop." in result.stderr
    assert "command not found" not in result.stderr  # stopped before any recipe ran


@needs_make
def test_goals_that_do_not_need_the_cli_still_work_without_it() -> None:
    result = make("help", path=path_without_pulumi())

    assert result.returncode == 0, result.stderr
    assert "make integration STACK=dev" in result.stdout


@needs_make
def test_make_integration_opts_in_and_streams_the_output(tmp_path: Path) -> None:
    fake_pulumi(tmp_path)

    result = make(
        "-n", "integration", "STACK=prod", path=f"{tmp_path}{os.pathsep}{os.environ['PATH']}"
    )

    assert result.returncode == 0, result.stderr
    commands = [
        line
        for line in result.stdout.splitlines()
        if "tests.integration" in line or "pytest" in line
    ]
    assert commands == [
        "PULUMI_INTEGRATION=1 INTEGRATION_STACK=prod venv/bin/python -m tests.integration check",
        "PULUMI_INTEGRATION=1 INTEGRATION_STACK=prod venv/bin/python -m pytest tests/integration "
        "-s -n 0",
    ]


# --- The Automation API adapter, against a stand-in `pulumi` executable --------------------

FAKE_CLI = """#!/bin/sh
# Logs its arguments, one line per call, tab-separated; answers the few calls that read output.
for arg in "$@"; do printf '%s\\t' "$arg"; done >> "$FAKE_PULUMI_LOG"; echo >> "$FAKE_PULUMI_LOG"
case " $* " in
  *" version "*) echo v3.272.0 ;;
  *" stack export "*) echo '{"version": 3, "deployment": {"resources": [
    {"type": "pulumi:pulumi:Stack"}, {"type": "pulumi:providers:aws"},
    {"type": "aws:ec2/vpc:Vpc"}, {"type": "aws:lb/loadBalancer:LoadBalancer"}]}}' ;;
  *" destroy "*) if [ -n "$FAKE_PULUMI_LOCKED" ]; then
      echo "error: the stack is currently locked by 1 lock(s)" >&2; exit 255; fi ;;
esac
"""


@pytest.fixture
def cli_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "pulumi"
    script.write_text(FAKE_CLI, encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(log))
    monkeypatch.delenv("FAKE_PULUMI_LOCKED", raising=False)
    monkeypatch.delenv("PULUMI_SECRETS_PROVIDER", raising=False)
    return log


def cli_calls(log: Path) -> list[list[str]]:
    """Each call's arguments, without the flags every Automation API call adds."""
    noise = {"--non-interactive", "--stack", NAME}
    calls = [line.rstrip("\t").split("\t") for line in log.read_text(encoding="utf-8").splitlines()]
    return [[arg for arg in call if arg not in noise] for call in calls if call != ["version"]]


def test_the_adapter_creates_counts_and_removes_through_the_cli(cli_log: Path) -> None:
    from tests.integration.automation import create_stack  # noqa: PLC0415

    stack = create_stack(NAME)
    count = stack.resource_count()
    stack.remove()

    assert count == 2  # the stack and its provider are not resources of the program
    # No config calls: `pulumi stack init` reads the settings file the harness wrote.
    assert cli_calls(cli_log) == [
        ["stack", "init"],
        ["stack", "export", "--show-secrets"],
        ["stack", "rm", "--yes"],
    ]


def test_a_throw_away_stack_encrypts_with_the_environments_key_when_given(
    cli_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.automation import create_stack  # noqa: PLC0415

    key = "awskms://alias/cdn-alb-backend-dev-secrets?region=us-east-1"
    monkeypatch.setenv("PULUMI_SECRETS_PROVIDER", key)
    create_stack(NAME)

    assert cli_calls(cli_log)[0] == ["stack", "init", "--secrets-provider", key]


def test_the_adapter_reports_a_locked_stack_as_such(
    cli_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.automation import create_stack  # noqa: PLC0415

    stack = create_stack(NAME)
    monkeypatch.setenv("FAKE_PULUMI_LOCKED", "1")

    with pytest.raises(StackLockedError, match="currently locked"):
        stack.destroy(lambda line: None)
