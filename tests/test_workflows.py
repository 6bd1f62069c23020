"""The GitHub Actions workflows: valid for GitHub, and doing what the project relies on.

The schema check uses check-jsonschema's vendored copy of the workflow schema, so it needs no
network (the test points any HTTP(S) attempt at a closed local port to make sure of that). The
other tests read the workflows with PyYAML and assert the facts CI/CD depends on.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
PULL_REQUEST = "pull-request.yml"
DEPLOY = "deploy.yml"
STACKS = ("dev", "prod")
DEPLOY_JOBS = {"dev": "deploy-dev", "prod": "deploy-prod"}

AWS_CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"
PULUMI_ACTION = "pulumi/actions"
SHA_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
VERSION_COMMENT = re.compile(r"^\s+# v\d+\.\d+\.\d+$")
# Any download attempt goes to the discard port of this machine, which refuses it at once.
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}

Job = dict[str, Any]
Step = dict[str, Any]


@cache
def workflow(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((WORKFLOW_DIR / name).read_text(encoding="utf-8"))
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True; GitHub reads it as "on".
    if True in loaded:
        loaded["on"] = loaded.pop(True)
    return loaded


def triggers(name: str) -> dict[str, Any]:
    on = workflow(name)["on"]
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on


def job(name: str, job_id: str) -> Job:
    return workflow(name)["jobs"][job_id]


def all_jobs() -> Iterator[tuple[str, str, Job]]:
    for name in (PULL_REQUEST, DEPLOY):
        for job_id, body in workflow(name)["jobs"].items():
            yield name, job_id, body


def action(step: Step) -> str:
    """The action a step uses, without its ref ("" for a `run` step)."""
    return str(step.get("uses", "")).split("@", 1)[0]


def runs(body: Job) -> list[str]:
    return [str(step["run"]).strip() for step in body["steps"] if "run" in step]


def index_of(body: Job, what: str, predicate: Callable[[Step], bool]) -> int:
    matches = [i for i, step in enumerate(body["steps"]) if predicate(step)]
    assert len(matches) == 1, f"expected exactly one step that {what}, found {len(matches)}"
    return matches[0]


def pulumi_step(body: Job) -> Step:
    return body["steps"][index_of(body, "uses pulumi/actions", _is_pulumi)]


def _is_pulumi(step: Step) -> bool:
    return action(step) == PULUMI_ACTION


def _configures_aws(step: Step) -> bool:
    return action(step) == AWS_CREDENTIALS_ACTION


def aws_jobs() -> list[tuple[str, str]]:
    return [
        (name, job_id)
        for name, job_id, body in all_jobs()
        if any(_configures_aws(step) for step in body.get("steps", []))
    ]


def check_jsonschema(*files: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "check_jsonschema"]
    command += ["--builtin-schema", "vendor.github-workflows", *map(str, files)]
    env = {**os.environ, **OFFLINE}
    # The arguments are this repository's own files, not outside input.
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603


# --- Schema -------------------------------------------------------------------------------


def workflow_files() -> list[Path]:
    return sorted(path for path in WORKFLOW_DIR.iterdir() if path.suffix in {".yml", ".yaml"})


def test_both_workflows_exist() -> None:
    assert {PULL_REQUEST, DEPLOY} <= {path.name for path in workflow_files()}


def test_every_workflow_matches_the_github_workflow_schema() -> None:
    result = check_jsonschema(*workflow_files())
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_misspelt_key(tmp_path: Path) -> None:
    """The schema check is not vacuous: `runs_on` for `runs-on` fails it."""
    text = (WORKFLOW_DIR / PULL_REQUEST).read_text(encoding="utf-8")
    assert "runs-on:" in text
    broken = tmp_path / PULL_REQUEST
    broken.write_text(text.replace("runs-on:", "runs_on:", 1), encoding="utf-8")

    result = check_jsonschema(broken)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "runs_on" in result.stdout + result.stderr


# --- Pull requests ------------------------------------------------------------------------


def test_pull_request_workflow_runs_on_pull_requests() -> None:
    assert "pull_request" in triggers(PULL_REQUEST)
    assert "pull_request_target" not in triggers(PULL_REQUEST)  # would expose secrets to forks


def test_test_job_runs_exactly_make_test() -> None:
    assert runs(job(PULL_REQUEST, "test")) == ["make test"]


def test_preview_runs_after_the_tests_for_both_stacks() -> None:
    preview = job(PULL_REQUEST, "preview")
    needs = preview["needs"]
    assert (needs if isinstance(needs, list) else [needs]) == ["test"]
    assert preview["strategy"]["matrix"] == {"stack": list(STACKS)}
    assert preview["strategy"]["fail-fast"] is False


def test_preview_comments_on_the_pull_request() -> None:
    preview = job(PULL_REQUEST, "preview")
    with_ = pulumi_step(preview)["with"]
    assert with_["command"] == "preview"
    assert with_["stack-name"] == "${{ matrix.stack }}"
    assert with_["comment-on-pr"] is True
    assert with_["github-token"] == "${{ secrets.GITHUB_TOKEN }}"
    assert preview["permissions"]["pull-requests"] == "write"


# --- Deployments --------------------------------------------------------------------------


def test_deploy_workflow_runs_on_pushes_to_main_and_by_hand() -> None:
    on = triggers(DEPLOY)
    assert on["push"] == {"branches": ["main"]}
    assert "workflow_dispatch" in on
    assert "pull_request" not in on


def _environment(body: Job) -> str:
    environment = body["environment"]
    return environment["name"] if isinstance(environment, dict) else environment


def test_prod_deploys_after_dev_behind_the_production_environment() -> None:
    prod = job(DEPLOY, "deploy-prod")
    needs = prod["needs"]
    assert "deploy-dev" in (needs if isinstance(needs, list) else [needs])
    assert "if" not in prod  # runs only when deploy-dev succeeded
    assert _environment(prod) == "production"  # required reviewers: repository settings
    dev = job(DEPLOY, "deploy-dev")
    assert (
        dev["if"] == "github.ref == 'refs/heads/main'"
    )  # a manual run from a branch deploys nothing
    assert _environment(dev) == "dev"


@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_deploys_one_run_at_a_time(stack: str) -> None:
    body = job(DEPLOY, DEPLOY_JOBS[stack])
    assert body["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}


@pytest.mark.parametrize("stack", STACKS)
def test_up_deploys_its_stack_then_the_smoke_check_runs(stack: str) -> None:
    body = job(DEPLOY, DEPLOY_JOBS[stack])
    up = index_of(body, "uses pulumi/actions", _is_pulumi)
    export = index_of(
        body,
        "exports the outputs",
        lambda step: "pulumi stack output --json" in step.get("run", ""),
    )
    smoke = index_of(
        body,
        "runs the smoke check",
        lambda step: "scripts/smoke_check.py" in step.get("run", ""),
    )

    assert body["steps"][up]["with"]["command"] == "up"
    assert body["steps"][up]["with"]["stack-name"] == stack
    assert up < export < smoke
    assert body["steps"][export]["run"].strip() == (
        f"pulumi stack output --json --stack {stack} > outputs.json"
    )
    assert (
        body["steps"][smoke]["run"]
        .strip()
        .endswith("python scripts/smoke_check.py --stack-outputs outputs.json")
    )
    for step in body["steps"][up:]:
        assert "continue-on-error" not in step
        assert "if" not in step  # a failed `up` must not be followed by a smoke check


# --- Every Pulumi job ---------------------------------------------------------------------


PULUMI_JOBS = [(PULL_REQUEST, "preview"), (DEPLOY, "deploy-dev"), (DEPLOY, "deploy-prod")]


@pytest.mark.parametrize(("name", "job_id"), PULUMI_JOBS)
def test_pulumi_runs_with_the_policy_pack(name: str, job_id: str) -> None:
    with_ = pulumi_step(job(name, job_id))["with"]
    assert with_["command"] in {"preview", "up"}
    assert with_["policyPacks"] == "policy"
    assert (ROOT / with_["policyPacks"] / "PulumiPolicy.yaml").is_file()


@pytest.mark.parametrize(("name", "job_id"), PULUMI_JOBS)
def test_dependencies_and_credentials_are_ready_before_pulumi(name: str, job_id: str) -> None:
    body = job(name, job_id)
    install = index_of(body, "runs make venv", lambda step: "make venv" in step.get("run", ""))
    credentials = index_of(body, "configures AWS credentials", _configures_aws)
    pulumi = index_of(body, "uses pulumi/actions", _is_pulumi)

    assert install < pulumi
    assert credentials < pulumi
    assert "policy/requirements.txt" in body["steps"][install]["run"]


@pytest.mark.parametrize(("name", "job_id"), PULUMI_JOBS)
def test_pulumi_backend_settings_come_from_secrets_and_variables(name: str, job_id: str) -> None:
    assert job(name, job_id)["env"] == {
        "PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}",
        "PULUMI_BACKEND_URL": "${{ vars.PULUMI_BACKEND_URL }}",
        "PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
    }


# --- Credentials and permissions ----------------------------------------------------------


def test_aws_credentials_are_configured_exactly_in_the_pulumi_jobs() -> None:
    assert aws_jobs() == PULUMI_JOBS


@pytest.mark.parametrize(("name", "job_id"), PULUMI_JOBS)
def test_aws_credentials_come_from_oidc(name: str, job_id: str) -> None:
    body = job(name, job_id)
    step = body["steps"][index_of(body, "configures AWS credentials", _configures_aws)]

    assert body["permissions"]["id-token"] == "write"
    assert step["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    assert step["with"]["aws-region"] == "${{ vars.AWS_REGION }}"


@pytest.mark.parametrize("name", [PULL_REQUEST, DEPLOY])
def test_no_long_lived_aws_keys(name: str) -> None:
    text = (WORKFLOW_DIR / name).read_text(encoding="utf-8").lower()
    for key in ("aws-access-key-id", "aws-secret-access-key", "aws_access_key_id"):
        assert key not in text


JOB_PERMISSIONS = {
    (PULL_REQUEST, "test"): {"contents": "read"},
    (PULL_REQUEST, "preview"): {"contents": "read", "id-token": "write", "pull-requests": "write"},
    (DEPLOY, "deploy-dev"): {"contents": "read", "id-token": "write"},
    (DEPLOY, "deploy-prod"): {"contents": "read", "id-token": "write"},
}


def test_permissions_are_granted_per_job_and_no_more() -> None:
    for name in (PULL_REQUEST, DEPLOY):
        assert workflow(name)["permissions"] in ({}, {"contents": "read"}), name
    granted = {(name, job_id): body.get("permissions") for name, job_id, body in all_jobs()}
    assert granted == JOB_PERMISSIONS


# --- Actions pinned -----------------------------------------------------------------------


@pytest.mark.parametrize("name", [PULL_REQUEST, DEPLOY])
def test_every_action_is_pinned_to_a_commit_sha(name: str) -> None:
    uses = [
        str(reference)
        for body in workflow(name)["jobs"].values()
        for reference in [body.get("uses"), *(step.get("uses") for step in body.get("steps", []))]
        if reference is not None
    ]
    assert uses
    for reference in uses:
        assert SHA_PINNED.match(reference), reference

    lines = (WORKFLOW_DIR / name).read_text(encoding="utf-8").splitlines()
    for line in lines:
        match = USES_LINE.match(line)
        if match:
            assert VERSION_COMMENT.match(match["rest"]), f"no '# vX.Y.Z' after the SHA: {line}"
