"""Deploy a throw-away copy of a stack, prove it works, and always tear it down again.

The orchestration is plain Python around a small interface, `EphemeralStack`, so the naming, the
copy's settings file, the phase timing, the clean-up on failure or interruption and the skip
reasons all run offline against a fake (tests/test_integration_harness.py).
tests/integration/automation.py implements the interface with Pulumi's Automation API.

The copy's config is the stack file's, read with PyYAML (as the tests read every stack file), with
its region, deletion protection and run tag set for the copy. The harness writes it as the copy's
own settings file, Pulumi.<copy>.yaml in the project, before the stack is created: `pulumi stack
init` keeps that config and adds its secrets provider's keys, and `pulumi up` reads it as any
stack's. So maps, lists, numbers, booleans and strings that look like numbers reach the copy as
the stack file has them; every string is written quoted, so no YAML reader retypes one. Secrets
are refused before anything is created: they are encrypted for their own stack alone. The file
lives as long as the stack: `pulumi stack rm` deletes it and the harness removes whatever is left,
after a failure or an interruption too; a stack that outlives the run keeps it for `make
integration-cleanup`. Its name, Pulumi.it-*.yaml, is git-ignored.

AWS credentials are whatever botocore's credential chain finds (environment, profiles, SSO,
credential_process, web identity, container, instance metadata), asked only once a run is
enabled, since off EC2 its last step waits for an instance metadata service that is not there.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TypeVar

import botocore.session
import yaml
from botocore.exceptions import BotoCoreError

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT_NAME: str = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text(encoding="utf-8"))[
    "name"
]
SMOKE_CHECK = PROJECT_DIR / "scripts" / "smoke_check.py"

# Environment variables the harness reads.
ENABLE_VAR = "PULUMI_INTEGRATION"  # "1": really deploy (make integration sets it)
STACK_FILE_VAR = "INTEGRATION_STACK"  # which Pulumi.<stack>.yaml to copy
REGION_VARS = ("INTEGRATION_REGION", "AWS_REGION")  # first one set wins over the stack file's
RECORD_FILE_VAR = "INTEGRATION_RECORD_FILE"  # where to note the stack's name for a later clean-up
DEFAULT_STACK_FILE = "dev"

INSTALL_HINT = (
    "curl -fsSL https://get.pulumi.com | sh, or brew install pulumi/tap/pulumi; "
    "see https://www.pulumi.com/docs/iac/download-install/"
)

NAME_PREFIX = "it"
NAME_TIME_FORMAT = "%Y%m%d-%H%M%S"
# Pulumi's rule for stack names: letters, digits, '-', '_' and '.', at most 100 characters.
STACK_NAME_RULE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
EPHEMERAL_NAME = re.compile(
    rf"{NAME_PREFIX}-(?P<stack_file>[A-Za-z0-9_.-]+)-(?P<created>\d{{8}}-\d{{6}})-[0-9a-f]{{6}}"
)
# Every resource of the copy carries this tag, so what a killed run leaked can be found.
RUN_TAG = "IntegrationStack"
# No run lasts this long (the workflow times out well before), so an older copy is abandoned.
ABANDONED_AFTER = timedelta(hours=6)

# An interrupted `up` may still hold the stack's lock while its CLI winds down.
LOCK_WAIT_SECONDS = 15 * 60.0
LOCK_POLL_SECONDS = 30.0

Output = Callable[[str], None]
T = TypeVar("T")


def say(line: str) -> None:
    print(line, flush=True)


# --- Names ---------------------------------------------------------------------------------


def ephemeral_stack_name(stack_file: str, created: datetime, token: str) -> str:
    name = f"{NAME_PREFIX}-{stack_file}-{created.astimezone(UTC):{NAME_TIME_FORMAT}}-{token}"
    if not STACK_NAME_RULE.fullmatch(name) or not EPHEMERAL_NAME.fullmatch(name):
        raise ValueError(f"not a valid ephemeral stack name: {name!r}")
    return name


def new_stack_name(
    stack_file: str,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    token: Callable[[], str] = lambda: secrets.token_hex(3),
) -> str:
    """it-<stack file>-<UTC time>-<6 random hex digits>: unique, sortable, dated for clean-up."""
    return ephemeral_stack_name(stack_file, now(), token())


def created_at(stack_name: str) -> datetime | None:
    """When an ephemeral stack was named; None for any other stack (never cleaned up)."""
    match = EPHEMERAL_NAME.fullmatch(stack_name.rsplit("/", 1)[-1])
    if match is None:
        return None
    return datetime.strptime(match["created"], NAME_TIME_FORMAT).replace(tzinfo=UTC)


# --- Stack files and config ----------------------------------------------------------------


class ConfigCopyError(ValueError):
    """The stack file holds something an ephemeral copy cannot or must not reproduce."""


def stack_settings_path(stack: str, project_dir: Path = PROJECT_DIR) -> Path:
    """Pulumi.<stack>.yaml: where Pulumi keeps a stack's settings (its config among them)."""
    return project_dir / f"Pulumi.{stack}.yaml"


def available_stack_files(project_dir: Path = PROJECT_DIR) -> list[str]:
    stacks = (
        path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for path in project_dir.glob("Pulumi.*.yaml")
    )
    return sorted(stack for stack in stacks if created_at(stack) is None)


def load_stack_file(stack_file: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    path = stack_settings_path(stack_file, project_dir)
    if not STACK_NAME_RULE.fullmatch(stack_file) or not path.is_file():
        choices = ", ".join(available_stack_files(project_dir))
        raise ConfigCopyError(f"no stack file Pulumi.{stack_file}.yaml (choose one of: {choices})")
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}


def _refuse_secrets(key: str, value: Any) -> None:
    """A secure value is encrypted with its own stack's secrets provider (a key, salt or data key
    of that stack's): the copy, created with a provider of its own, could not decrypt it."""
    if isinstance(value, Mapping):
        if "secure" in value:
            raise ConfigCopyError(
                f"{key} is a secret, encrypted for its own stack: a copy cannot decrypt it; "
                "integration-test a stack file without secrets"
            )
        for name, item in value.items():
            _refuse_secrets(f"{key}.{name}", item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_secrets(f"{key}[{index}]", item)


def _with_run_tag(default_tags: Any, stack_name: str) -> dict[str, Any]:
    """aws:defaultTags with the run tag added to its `tags`, both made when the file has none."""
    default_tags = {} if default_tags is None else default_tags
    if isinstance(default_tags, Mapping):
        tags = default_tags.get("tags")
        tags = {} if tags is None else tags
        if isinstance(tags, Mapping):
            return {**default_tags, "tags": {**tags, RUN_TAG: stack_name}}
    raise ConfigCopyError(
        f"aws:defaultTags is {default_tags!r}: the copy needs a map with a map `tags` for its "
        f"{RUN_TAG} tag"
    )


def ephemeral_config(
    stack_file_config: Mapping[str, Any],
    *,
    stack_name: str,
    region: str,
    project: str = PROJECT_NAME,
) -> dict[str, Any]:
    """Every key of the stack file, its value as it is, plus what makes the copy safe to create
    and to destroy: the chosen region, deletion protection off and the run tag."""
    domain = stack_file_config.get(f"{project}:domainName")
    if domain:
        raise ConfigCopyError(
            f"{project}:domainName is {domain!r}: a copy would claim the same DNS name and "
            "certificate as the real stack; integration-test a stack file without a domain"
        )
    for key, value in stack_file_config.items():
        _refuse_secrets(key, value)
    config = copy.deepcopy(dict(stack_file_config))
    config["aws:region"] = region
    # The copy must always be destroyable, whatever the real stack protects.
    config[f"{project}:deletionProtection"] = False
    config["aws:defaultTags"] = _with_run_tag(config.get("aws:defaultTags"), stack_name)
    return config


class _QuotedStrings(yaml.SafeDumper):
    """PyYAML's safe dumper with every string quoted, so that no YAML reader (Pulumi's is Go's,
    not PyYAML) takes one for a number, a boolean or a date, however it looks."""


_QuotedStrings.add_representer(
    str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
)

SETTINGS_FILE_HEADER = (
    "# The settings of a throw-away stack (tests/integration/ephemeral.py), removed with it.\n"
)


def write_stack_settings(path: Path, config: Mapping[str, Any]) -> None:
    """The copy's settings file, written before its stack exists: `pulumi stack init` keeps the
    config in it and adds its secrets provider's keys. An existing file is never overwritten."""
    document = yaml.dump({"config": dict(config)}, Dumper=_QuotedStrings, sort_keys=False)
    with path.open("x", encoding="utf-8") as handle:
        handle.write(SETTINGS_FILE_HEADER + document)


def choose_region(env: Mapping[str, str], stack_file_config: Mapping[str, Any]) -> tuple[str, str]:
    """(region, where it came from): INTEGRATION_REGION, AWS_REGION, else the stack file."""
    for variable in REGION_VARS:
        if env.get(variable):
            return env[variable], variable
    region = stack_file_config.get("aws:region")
    if isinstance(region, str) and region:
        return region, "the stack file's aws:region"
    raise ConfigCopyError(f"no region: set {' or '.join(REGION_VARS)}, or aws:region")


@dataclass(frozen=True)
class Plan:
    stack_file: str
    stack_name: str
    region: str
    region_source: str
    config: dict[str, Any]  # the copy's config block
    settings_file: Path  # Pulumi.<stack_name>.yaml in the project, where `config` is written
    record_file: Path | None = None


def plan_from_env(
    env: Mapping[str, str],
    *,
    project_dir: Path = PROJECT_DIR,
    name: Callable[[str], str] = new_stack_name,
) -> Plan:
    stack_file = env.get(STACK_FILE_VAR) or DEFAULT_STACK_FILE
    stack_file_config = load_stack_file(stack_file, project_dir)
    region, region_source = choose_region(env, stack_file_config)
    stack_name = name(stack_file)
    record_file = env.get(RECORD_FILE_VAR)
    return Plan(
        stack_file=stack_file,
        stack_name=stack_name,
        region=region,
        region_source=region_source,
        config=ephemeral_config(stack_file_config, stack_name=stack_name, region=region),
        settings_file=stack_settings_path(stack_name, project_dir),
        record_file=Path(record_file) if record_file else None,
    )


# --- Prerequisites (the skip reasons) ------------------------------------------------------


def aws_credentials_problem() -> str | None:
    """What keeps botocore's credential chain (the AWS CLI's; the other AWS SDKs, the Pulumi AWS
    provider's among them, read the same sources) from finding credentials in this process's
    environment; None when it finds some. It tries the environment, AWS_PROFILE's (or the
    default) profile with its keys, role, SSO session or credential_process, web identity, the
    container endpoint and last the instance metadata service, which off EC2 costs a time-out
    unless AWS_EC2_METADATA_DISABLED=true. Credentials are found, not used: no AWS API is
    called, so an expired or revoked one still counts."""
    try:
        credentials = botocore.session.get_session().get_credentials()
    except BotoCoreError as error:  # e.g. AWS_PROFILE names no profile, a key id without secret
        return f"AWS credentials: {error}"
    if credentials is None:
        return (
            "no AWS credentials: botocore's credential chain found none (environment, profile, "
            "SSO, credential_process, web identity, container or instance metadata)"
        )
    return None


def missing_prerequisites(
    env: Mapping[str, str],
    *,
    which: Callable[[str], str | None] = shutil.which,
    credentials_problem: Callable[[], str | None] = aws_credentials_problem,
    require_opt_in: bool = True,
) -> list[str]:
    """Everything that stops a real deployment, each named; empty when it can go ahead. The
    credential chain is asked only for a run that is enabled (PULUMI_INTEGRATION=1, or the
    `check` command, which passes require_opt_in=False): the offline suite must never wait for
    an instance metadata service."""
    missing: list[str] = []
    enabled = env.get(ENABLE_VAR) == "1" or not require_opt_in
    if not enabled:
        missing.append(
            f"{ENABLE_VAR}=1 is not set (`make integration` sets it; AWS credentials are "
            "checked once it is)"
        )
    if which("pulumi") is None:
        missing.append(f"the pulumi CLI is not on PATH (install: {INSTALL_HINT})")
    if enabled:
        credentials = credentials_problem()
        if credentials:
            missing.append(credentials)
    return missing


# --- The stack interface and its phases ----------------------------------------------------


@dataclass(frozen=True)
class UpReport:
    resource_changes: dict[str, int]  # e.g. {"create": 57}
    outputs: dict[str, Any]  # plain values, as `pulumi stack output --json` prints them


class StackLockedError(Exception):
    """Another operation holds the stack's lock (Pulumi's ConcurrentUpdateError)."""


class EphemeralStack(Protocol):
    @property
    def name(self) -> str: ...

    def up(self, on_output: Output) -> UpReport: ...

    def resource_count(self) -> int: ...

    def destroy(self, on_output: Output) -> None: ...  # raises StackLockedError when locked

    def cancel(self) -> None: ...

    def remove(self) -> None: ...


StackFactory = Callable[[str], EphemeralStack]  # creates the named stack
SmokeCheck = Callable[[Mapping[str, Any]], int]  # stack outputs -> exit status


def count_resources(resources: Iterable[Mapping[str, Any]]) -> int:
    """Resources the program declared, from a state export (the stack and providers left out)."""
    return sum(
        1
        for resource in resources
        if resource.get("type") != "pulumi:pulumi:Stack"
        and not str(resource.get("type", "")).startswith("pulumi:providers:")
    )


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    outcome: str  # ok, failed, interrupted


@dataclass
class PhaseTimer:
    out: Output
    clock: Callable[[], float] = time.monotonic
    phases: list[Phase] = field(default_factory=list)

    def run(self, name: str, action: Callable[..., T], *args: Any) -> T:
        self.out(f"[integration] {name} ...")
        start = self.clock()
        outcome = "failed"
        try:
            result = action(*args)
            outcome = "ok"
        except KeyboardInterrupt:
            outcome = "interrupted"
            raise
        finally:
            seconds = self.clock() - start
            self.phases.append(Phase(name, seconds, outcome))
            self.out(f"[integration] {name}: {outcome} in {seconds:.1f}s")
        return result

    def report(self) -> None:
        self.out("[integration] phase            seconds  outcome")
        for phase in self.phases:
            self.out(f"[integration] {phase.name:<15} {phase.seconds:>8.1f}  {phase.outcome}")
        total = sum(phase.seconds for phase in self.phases)
        self.out(f"[integration] {'total':<15} {total:>8.1f}")


# --- Signals -------------------------------------------------------------------------------


class Interrupted(KeyboardInterrupt):
    """SIGTERM (CI cancellation, `timeout`, `docker stop`), raised the way Ctrl-C raises."""


def _in_main_thread() -> bool:
    # Python only lets the main thread install signal handlers.
    return threading.current_thread() is threading.main_thread()


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    if not _in_main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)


@contextmanager
def interrupts_deferred(out: Output, stack_name: str) -> Iterator[None]:
    """Ctrl-C and SIGTERM during the clean-up are reported, not obeyed: a destroy cut short
    leaves resources that cost money. (A Ctrl-C in a terminal also reaches the Pulumi CLI, which
    then stops after its current operations; the harness stays to say what is left.)"""
    if not _in_main_thread():
        yield
        return

    def report(signum: int, frame: FrameType | None) -> None:
        out(
            f"[integration] {signal.Signals(signum).name} during the clean-up of {stack_name}: "
            "carrying on (whatever is left, `make integration-cleanup` destroys later)"
        )

    previous = {sig: signal.signal(sig, report) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler or signal.SIG_DFL)


# --- Deploy, prove, tear down --------------------------------------------------------------


class SmokeCheckError(AssertionError):
    def __init__(self, exit_status: int) -> None:
        super().__init__(f"the smoke check failed (exit status {exit_status})")
        self.exit_status = exit_status


class LeftoverStackError(RuntimeError):
    """The stack, and maybe resources, outlived the run."""


def leftover_advice(stack_name: str) -> str:
    return (
        f"{stack_name} was not fully destroyed: run `make integration-cleanup`, or "
        f"`pulumi destroy --stack {stack_name} && pulumi stack rm {stack_name}`. Resources a "
        f"killed update never recorded carry the tag {RUN_TAG}={stack_name}: `aws "
        f"resourcegroupstaggingapi get-resources --tag-filters Key={RUN_TAG},Values={stack_name}`"
    )


def destroy_when_unlocked(
    stack: EphemeralStack,
    *,
    out: Output,
    pause: Callable[[float], None],
    lock_wait: float,
    poll: float = LOCK_POLL_SECONDS,
) -> None:
    """Destroy; while an interrupted operation still holds the lock, wait for it up to
    `lock_wait` seconds, then cancel it (its process is gone or stuck) and destroy."""
    waited = 0.0
    while True:
        try:
            stack.destroy(out)
        except StackLockedError:
            if waited >= lock_wait:
                break
            out(f"[integration] {stack.name} is locked by a running operation; again in {poll:g}s")
            pause(poll)
            waited += poll
        else:
            return
    out(f"[integration] {stack.name} still locked: cancelling that operation, then destroying")
    stack.cancel()
    stack.destroy(out)


def tear_down(
    stack: EphemeralStack,
    timer: PhaseTimer,
    *,
    out: Output,
    pause: Callable[[float], None] = time.sleep,
    lock_wait: float = LOCK_WAIT_SECONDS,
) -> bool:
    """Destroy the stack's resources, then remove the stack; True when both happened. Never
    raises: the run's own failure, if any, is the one to report."""
    with interrupts_deferred(out, stack.name):
        try:
            timer.run(
                "destroy",
                lambda: destroy_when_unlocked(stack, out=out, pause=pause, lock_wait=lock_wait),
            )
            # Only an empty stack is removed: removing one with resources would lose their state.
            timer.run("remove stack", stack.remove)
        except Exception as error:  # noqa: BLE001 -- whatever failed, the advice is the same
            out(f"[integration] clean-up failed: {error}")
            out(f"[integration] {leftover_advice(stack.name)}")
            return False
    return True


@dataclass
class RunResult:
    stack_name: str
    resource_changes: dict[str, int] = field(default_factory=dict)
    resource_count: int | None = None
    smoke_exit_status: int | None = None
    phases: list[Phase] = field(default_factory=list)


def run_smoke_check(outputs: Mapping[str, Any]) -> int:
    """scripts/smoke_check.py on the outputs, fed the way the deploy workflow feeds it."""
    command = [sys.executable, str(SMOKE_CHECK), "--stack-outputs", "-"]
    # The command is this repository's own script; the input is the stack's outputs.
    completed = subprocess.run(command, input=json.dumps(outputs), text=True, check=False)  # noqa: S603
    return completed.returncode


def record_stack_name(record_file: Path | None, stack_name: str) -> None:
    """Noted before the stack exists, so a clean-up after a hard kill knows what to destroy."""
    if record_file is not None:
        record_file.write_text(f"{stack_name}\n", encoding="utf-8")


def deploy_and_prove(
    plan: Plan,
    factory: StackFactory,
    *,
    smoke_check: SmokeCheck = run_smoke_check,
    out: Output = say,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> RunResult:
    """Write the copy's settings file, create the stack, `up`, smoke-check; then destroy and
    remove the stack and its settings file, whatever happened (failure, Ctrl-C, SIGTERM). Raises
    the first failure, or LeftoverStackError; a stack left over keeps its settings file."""
    timer = PhaseTimer(out, clock)
    result = RunResult(plan.stack_name, phases=timer.phases)
    out(
        f"[integration] {plan.stack_name}: a copy of Pulumi.{plan.stack_file}.yaml in "
        f"{plan.region} (from {plan.region_source})"
    )
    if plan.settings_file.exists():  # someone else's: neither overwritten nor removed
        raise FileExistsError(f"{plan.settings_file} exists already")
    record_stack_name(plan.record_file, plan.stack_name)
    stack: EphemeralStack | None = None
    try:
        with sigterm_interrupts():
            write_stack_settings(plan.settings_file, plan.config)
            stack = timer.run("create stack", factory, plan.stack_name)
            up = timer.run("up", stack.up, out)
            result.resource_changes = up.resource_changes
            result.resource_count = stack.resource_count()
            changes = ", ".join(
                f"{op}={count}" for op, count in sorted(up.resource_changes.items())
            )
            out(f"[integration] resources: {result.resource_count} in the stack ({changes})")
            result.smoke_exit_status = timer.run("smoke check", smoke_check, up.outputs)
            if result.smoke_exit_status != 0:
                raise SmokeCheckError(result.smoke_exit_status)
    finally:
        cleaned = stack is None or tear_down(stack, timer, out=out, pause=pause)
        if cleaned:
            # `pulumi stack rm` deletes it too; a stack never created leaves it to the harness.
            plan.settings_file.unlink(missing_ok=True)
        else:
            out(f"[integration] {plan.settings_file.name} stays for the stack's clean-up")
        timer.report()
    if not cleaned:
        raise LeftoverStackError(leftover_advice(plan.stack_name))
    return result


# --- Clean-up of what earlier runs left ----------------------------------------------------


class StackDirectory(Protocol):
    def stack_names(self) -> list[str]: ...

    def select(self, stack_name: str) -> EphemeralStack: ...


def leftover_stacks(
    stack_names: Iterable[str],
    *,
    recorded: Iterable[str],
    now: datetime,
    max_age: timedelta = ABANDONED_AFTER,
) -> list[str]:
    """Ephemeral stacks to destroy: the ones recorded by this run's harness, and any older
    than `max_age` (a run that old was killed). Other stacks are never touched."""
    wanted = {name.strip() for name in recorded if name.strip()}
    leftovers = []
    for name in stack_names:
        created = created_at(name)
        if created is None:
            continue
        if name.rsplit("/", 1)[-1] in wanted or now - created >= max_age:
            leftovers.append(name)
    return leftovers


def clean_up_leftovers(
    directory: StackDirectory,
    *,
    recorded: Iterable[str],
    now: datetime,
    out: Output = say,
    clock: Callable[[], float] = time.monotonic,
    max_age: timedelta = ABANDONED_AFTER,
) -> bool:
    """Destroy and remove leftover ephemeral stacks; True when none is left."""
    leftovers = leftover_stacks(
        directory.stack_names(), recorded=recorded, now=now, max_age=max_age
    )
    out(f"[integration] {len(leftovers)} leftover ephemeral stack(s) {' '.join(leftovers)}")
    all_gone = True
    for name in leftovers:
        timer = PhaseTimer(out, clock)
        # The run that held a lock was killed with its process tree: no point waiting for it.
        all_gone &= tear_down(directory.select(name), timer, out=out, lock_wait=0)
    return all_gone
