"""The GitHub Actions workflows: valid for GitHub, and doing what the project relies on.

`make lint` checks them as GitHub reads them: actionlint (keys, types, expressions, the calls of
the reusable workflow; a test here makes sure it refuses a misspelt key) and zizmor (triggers,
permissions, injection, credentials, pinning). The other tests read the workflows with PyYAML
and assert the facts CI/CD depends on across files: the roles and variables the bootstrap makes,
the Makefile targets they run, the order of steps, the environments.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from functools import cache
from itertools import takewhile
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import cost
from tests.integration.ephemeral import REGION_VARS, available_stack_files
from tests.test_bootstrap import bootstrap

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
PULL_REQUEST = "pull-request.yml"
DEPLOY = "deploy.yml"
DEPLOY_STACK = "deploy-stack.yml"  # the reusable workflow that deploy.yml calls once per stack
INTEGRATION = "integration.yml"
DRIFT = "drift.yml"
WORKFLOWS = (PULL_REQUEST, DEPLOY, DEPLOY_STACK, INTEGRATION, DRIFT)
STACKS = ("dev", "prod")
DEPLOY_JOBS = {"dev": "deploy-dev", "prod": "deploy-prod"}  # the calling jobs, in deploy.yml
ENVIRONMENTS = {"dev": "dev", "prod": "production"}
DEPLOY_STACK_JOB = "deploy"  # the one job of deploy-stack.yml
CALLED_WORKFLOW = f"./.github/workflows/{DEPLOY_STACK}"
PULUMI_SECRETS = ("PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE")

AWS_CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"
CHECKOUT_ACTION = "actions/checkout"
PULUMI_ACTION = "pulumi/actions"
SHA_PINNED = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
VERSION_COMMENT = re.compile(r"^\s+# v\d+\.\d+\.\d+$")
INPUT_EXPRESSION = re.compile(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}")
SECRET_EXPRESSION = re.compile(r"\$\{\{\s*secrets\.(\w+)\s*\}\}")
# What `make lint` runs: $(VENV)/bin/actionlint, with VENV := venv.
ACTIONLINT = ROOT / "venv" / "bin" / "actionlint"

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
    for name in WORKFLOWS:
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
    return body["steps"][index_of(body, "runs a pulumi/actions command", _is_pulumi)]


def _is_pulumi(step: Step) -> bool:
    """A step that runs a Pulumi command through pulumi/actions (not one that installs the CLI)."""
    return action(step) == PULUMI_ACTION and "command" in step.get("with", {})


def _installs_pulumi(step: Step) -> bool:
    return action(step) == PULUMI_ACTION and "command" not in step.get("with", {})


def _runs_pulumi(step: Step) -> bool:
    """A step that runs the Pulumi CLI, itself or through make or pulumi/actions."""
    run = str(step.get("run", ""))
    return _is_pulumi(step) or "pulumi " in run or run.strip().startswith("make integration")


def _sets_the_boundary(step: Step) -> bool:
    return "pulumi config set instanceRoleBoundary" in str(step.get("run", ""))


def _configures_aws(step: Step) -> bool:
    return action(step) == AWS_CREDENTIALS_ACTION


def aws_jobs() -> list[tuple[str, str]]:
    return [
        (name, job_id)
        for name, job_id, body in all_jobs()
        if any(_configures_aws(step) for step in body.get("steps", []))
    ]


# --- Linted by make lint -------------------------------------------------------------------


def workflow_files() -> list[Path]:
    return sorted(path for path in WORKFLOW_DIR.iterdir() if path.suffix in {".yml", ".yaml"})


def test_every_workflow_exists_and_is_checked_here() -> None:
    assert set(WORKFLOWS) == {path.name for path in workflow_files()}


def recipe(target: str) -> list[str]:
    """The commands of a Makefile target, as written (none if it is not there)."""
    lines = iter((ROOT / "Makefile").read_text(encoding="utf-8").splitlines())
    for line in lines:
        if line.startswith(f"{target}:"):
            break
    return [line.strip() for line in takewhile(lambda line: line.startswith("\t"), lines)]


def test_the_linter_make_lint_runs_rejects_a_misspelt_key(tmp_path: Path) -> None:
    """actionlint, which `make lint` runs on the workflows, is not vacuous: `runs_on` for
    `runs-on` fails it, naming the key."""
    assert "$(VENV)/bin/actionlint -no-color" in recipe("lint")
    text = (WORKFLOW_DIR / PULL_REQUEST).read_text(encoding="utf-8")
    assert "runs-on:" in text
    broken = tmp_path / PULL_REQUEST
    broken.write_text(text.replace("runs-on:", "runs_on:", 1), encoding="utf-8")

    # Its own checks only, whether or not shellcheck and pyflakes are installed here.
    command = [str(ACTIONLINT), "-no-color", "-shellcheck=", "-pyflakes=", str(broken)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603

    assert result.returncode == 1, result.stdout + result.stderr
    assert 'unexpected key "runs_on" for "job" section' in result.stdout


# --- Pull requests ------------------------------------------------------------------------


def test_test_job_runs_exactly_make_test_with_what_ci_installs() -> None:
    install, test = runs(job(PULL_REQUEST, "test"))
    ci_run = (ROOT / ".ci" / "run").read_text()

    assert test == "make test"
    assert "apt-get install -y -qq --no-install-recommends cloud-init systemd" in install
    assert "--no-install-recommends cloud-init systemd" in ci_run


def test_pull_requests_preview_dev_only_after_the_tests() -> None:
    """A pull request's code runs in the preview: it gets dev's read-only role, never prod's."""
    preview = job(PULL_REQUEST, "preview")
    needs = preview["needs"]
    assert (needs if isinstance(needs, list) else [needs]) == ["test"]
    assert "strategy" not in preview
    assert pulumi_step(preview)["with"]["stack-name"] == "dev"
    assert role_to_assume(preview) == "${{ vars.AWS_PREVIEW_ROLE_ARN_DEV }}"


def _checks_out(step: Step) -> bool:
    return action(step) == CHECKOUT_ACTION


def test_cost_job_prices_the_base_branch_and_the_pull_request() -> None:
    body = job(PULL_REQUEST, "cost")
    base = step_named(body, "checks out the base branch", lambda s: "ref" in s.get("with", {}))
    price = index_of(body, "prices both", lambda s: "--compare" in s.get("run", ""))
    install = index_of(body, "runs make venv", lambda s: s.get("run") == "make venv")
    run = body["steps"][price]["run"]
    path = base["with"]["path"]

    assert _checks_out(base)
    assert base["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert base["with"]["persist-credentials"] is False
    assert install < price
    head_json, base_json = '"$RUNNER_TEMP/cost-head.json"', '"$RUNNER_TEMP/cost-base.json"'
    assert f"venv/bin/python scripts/cost.py --json > {head_json}" in run
    assert f"venv/bin/python {path}/scripts/cost.py --json > {base_json}" in run
    assert f"scripts/cost.py --compare {base_json} {head_json} --markdown" in run
    assert '>> "$GITHUB_STEP_SUMMARY"' in run  # forks see the figures there
    # Priced under the mocks: no AWS credentials, no Pulumi backend, no secrets.
    assert not any(_configures_aws(step) or _is_pulumi(step) for step in body["steps"])
    assert "secrets." not in yaml.safe_dump(body)


def test_cost_comment_is_one_comment_updated_and_skipped_for_forks() -> None:
    body = job(PULL_REQUEST, "cost")
    price = index_of(body, "prices both", lambda s: "--compare" in s.get("run", ""))
    comment = index_of(body, "posts the comment", lambda s: "gh api" in s.get("run", ""))
    step = body["steps"][comment]

    assert price < comment
    assert "if" not in body  # the job runs for forks too; only the comment is skipped
    assert step["if"] == job(PULL_REQUEST, "preview")["if"]
    assert step["env"]["GH_TOKEN"] == "${{ github.token }}"
    # Finds its own earlier comment by the marker the script writes first, and edits it.
    assert f'startswith("{cost.COMMENT_MARKER}")' in step["run"]
    assert '"github-actions[bot]"' in step["run"]
    assert "--method PATCH" in step["run"]
    assert "--method POST" in step["run"]
    assert "${{" not in step["run"]  # values reach the script through the environment


# --- Deployments --------------------------------------------------------------------------


def _environment(body: Job) -> str:
    environment = body["environment"]
    return environment["name"] if isinstance(environment, dict) else environment


def caller(stack: str) -> Job:
    """The job of deploy.yml that deploys `stack` by calling deploy-stack.yml."""
    return job(DEPLOY, DEPLOY_JOBS[stack])


def deploy_job() -> Job:
    """The one job of the reusable workflow, as written (with `${{ inputs.* }}` in it)."""
    return job(DEPLOY_STACK, DEPLOY_STACK_JOB)


def _resolve(value: Any, inputs: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return INPUT_EXPRESSION.sub(lambda match: str(inputs[match[1]]), value)
    if isinstance(value, dict):
        return {key: _resolve(item, inputs) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, inputs) for item in value]
    return value


def deployed_job(stack: str) -> Job:
    """The reusable job with the inputs that `stack`'s caller passes substituted in."""
    return _resolve(deploy_job(), caller(stack)["with"])


def workflow_call() -> dict[str, Any]:
    return triggers(DEPLOY_STACK)["workflow_call"]


@pytest.mark.parametrize("stack", STACKS)
def test_deploy_calls_the_reusable_workflow_once_per_stack(stack: str) -> None:
    assert set(workflow(DEPLOY)["jobs"]) == set(DEPLOY_JOBS.values())
    body = caller(stack)

    assert body["uses"] == CALLED_WORKFLOW
    assert (ROOT / CALLED_WORKFLOW).is_file()
    assert "steps" not in body  # the steps live in deploy-stack.yml only
    assert body["with"] == {
        "stack": stack,
        "environment": ENVIRONMENTS[stack],
        "role-to-assume": f"${{{{ vars.AWS_DEPLOY_ROLE_ARN_{stack.upper()} }}}}",
    }
    assert set(body["with"]) == set(workflow_call()["inputs"])


@pytest.mark.parametrize("stack", STACKS)
def test_deploy_passes_only_the_pulumi_secrets(stack: str) -> None:
    passed = caller(stack)["secrets"]
    declared = workflow_call()["secrets"]
    # Every secret the reusable workflow reads is declared, and so passed: an undeclared one
    # would read as "" there.
    read = set(SECRET_EXPRESSION.findall((WORKFLOW_DIR / DEPLOY_STACK).read_text("utf-8")))

    assert passed != "inherit"  # one by one: nothing else crosses the call
    assert passed == {name: f"${{{{ secrets.{name} }}}}" for name in PULUMI_SECRETS}
    assert set(declared) == set(PULUMI_SECRETS) == read
    for secret in declared.values():
        assert secret["required"] is False  # one backend or the other: the other one is unset


def test_prod_deploys_after_dev_behind_the_production_environment_from_main_only() -> None:
    prod = caller("prod")
    needs = prod["needs"]
    main = "github.ref == 'refs/heads/main'"
    assert "deploy-dev" in (needs if isinstance(needs, list) else [needs])
    assert prod["if"] == main  # and only when deploy-dev succeeded
    assert _environment(deployed_job("prod")) == "production"  # required reviewers: settings
    # The reusable job refuses production from any other ref, whoever calls it.
    assert deploy_job()["if"] == f"inputs.environment != 'production' || {main}"
    dev = caller("dev")
    assert dev["if"] == main  # a manual run from a branch deploys nothing
    assert "needs" not in dev
    assert _environment(deployed_job("dev")) == "dev"
    # The environment is set in the reusable job (a calling job cannot have one), with the URL.
    assert deploy_job()["environment"] == {
        "name": "${{ inputs.environment }}",
        "url": "${{ steps.up.outputs.url }}",
    }
    assert pulumi_step(deploy_job())["id"] == "up"


@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_deploys_one_run_at_a_time(stack: str) -> None:
    body = deployed_job(stack)
    assert body["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
    # The same group on the calling job too would deadlock the run.
    assert "concurrency" not in caller(stack)


@pytest.mark.parametrize("stack", STACKS)
def test_each_caller_deploys_and_names_its_own_stack(stack: str) -> None:
    body = deployed_job(stack)
    credentials = step_named(body, "configures AWS credentials", _configures_aws)
    export = step_named(
        body, "exports the outputs", lambda step: "pulumi stack output" in step.get("run", "")
    )

    assert pulumi_step(body)["with"]["stack-name"] == stack
    assert export["env"]["STACK"] == stack
    assert credentials["with"]["role-session-name"] == f"deploy-{stack}-${{{{ github.run_id }}}}"


def test_up_deploys_its_stack_then_the_smoke_check_runs() -> None:
    body = deploy_job()
    up = index_of(body, "runs a pulumi/actions command", _is_pulumi)
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
    assert body["steps"][up]["with"]["stack-name"] == "${{ inputs.stack }}"
    assert up < export < smoke
    # The stack reaches the script through the environment, not an expression in the script.
    assert body["steps"][export]["run"].strip() == (
        'pulumi stack output --json --stack "$STACK" > outputs.json'
    )
    assert body["steps"][export]["env"]["STACK"] == "${{ inputs.stack }}"
    assert (
        body["steps"][smoke]["run"]
        .strip()
        .endswith("python scripts/smoke_check.py --stack-outputs outputs.json")
    )
    for step in body["steps"][up:]:
        assert "continue-on-error" not in step
        assert "if" not in step  # a failed `up` must not be followed by a smoke check


# --- Integration: a throw-away copy, always destroyed ---------------------------------------


def step_named(body: Job, what: str, predicate: Callable[[Step], bool]) -> Step:
    return body["steps"][index_of(body, what, predicate)]


def _runs_make_integration(step: Step) -> bool:
    return str(step.get("run", "")).strip().startswith("make integration STACK=")


def _runs_integration_cleanup(step: Step) -> bool:
    return str(step.get("run", "")).strip() == "make integration-cleanup"


def test_integration_takes_a_stack_file_and_an_optional_region() -> None:
    inputs = triggers(INTEGRATION)["workflow_dispatch"]["inputs"]
    stack = inputs["stack"]
    assert stack["type"] == "choice"
    assert stack["default"] == "dev"
    # One per Pulumi.<stack>.yaml: a new stack file is added to the options too.
    assert stack["options"] == available_stack_files(), f"{INTEGRATION}: inputs.stack.options"
    assert inputs["region"]["type"] == "string"
    assert inputs["region"].get("required", False) is False
    assert inputs["region"]["default"] == ""


def test_integration_installs_the_pulumi_cli_and_the_program_before_running() -> None:
    body = job(INTEGRATION, "integration")
    install = index_of(body, "runs make venv", lambda step: step.get("run") == "make venv")
    cli = index_of(body, "installs the Pulumi CLI", _installs_pulumi)
    credentials = index_of(
        body, "configures AWS credentials", lambda s: _configures_aws(s) and "if" not in s
    )
    run = index_of(body, "runs make integration", _runs_make_integration)

    assert max(install, cli, credentials) < run
    assert "command" not in body["steps"][cli].get("with", {})  # install only, nothing deployed


def test_integration_passes_the_inputs_through_the_environment() -> None:
    step = step_named(
        job(INTEGRATION, "integration"), "runs make integration", _runs_make_integration
    )

    assert step["run"].strip() == 'make integration STACK="$STACK"'  # no ${{ }} in the script
    assert step["env"]["STACK"] == "${{ inputs.stack || 'dev' }}"  # schedules have no inputs
    # The variable the harness reads the region from first (AWS_REGION when it is empty).
    assert step["env"][REGION_VARS[0]] == "${{ inputs.region }}"
    assert "continue-on-error" not in step


def test_integration_always_cleans_up_after_the_run_with_fresh_credentials() -> None:
    body = job(INTEGRATION, "integration")
    steps = body["steps"]
    run = index_of(body, "runs make integration", _runs_make_integration)
    cleanup = index_of(body, "runs make integration-cleanup", _runs_integration_cleanup)
    refresh = [i for i, step in enumerate(steps) if _configures_aws(step) and i > run]

    assert run < cleanup
    assert refresh
    assert run < refresh[0] < cleanup
    always = "always() && steps.integration.outcome != 'skipped'"
    assert steps[run]["id"] == "integration"
    assert steps[refresh[0]]["if"] == always  # also after a failure or a cancellation
    assert steps[cleanup]["if"] == always
    # The clean-up finds the stack the harness recorded before creating it.
    record = steps[run]["env"]["INTEGRATION_RECORD_FILE"]
    assert record.startswith("${{ runner.temp }}/")
    assert steps[cleanup]["env"]["INTEGRATION_RECORD_FILE"] == record


def test_integration_leaves_the_clean_up_time_within_the_job_timeout() -> None:
    body = job(INTEGRATION, "integration")
    run = step_named(body, "runs make integration", _runs_make_integration)
    cleanup = step_named(body, "runs make integration-cleanup", _runs_integration_cleanup)

    assert run["timeout-minutes"] >= 60  # a CloudFront distribution alone takes minutes each way
    assert cleanup["timeout-minutes"] >= 30
    assert body["timeout-minutes"] >= run["timeout-minutes"] + cleanup["timeout-minutes"] + 10


def test_integration_runs_from_main_in_the_stack_files_environment_with_its_role() -> None:
    body = job(INTEGRATION, "integration")
    assert body["if"] == "github.ref == 'refs/heads/main'"
    # The schedule has no inputs: dev. A copy of prod waits for production's reviewers.
    assert _environment(body) == (
        "${{ inputs.stack == 'prod' && 'production' || inputs.stack || 'dev' }}"
    )
    assert body["env"]["DEPLOY_ROLE_ARN"] == (
        "${{ inputs.stack == 'prod' && vars.AWS_DEPLOY_ROLE_ARN_PROD || "
        "inputs.stack == 'staging' && vars.AWS_DEPLOY_ROLE_ARN_STAGING || "
        "vars.AWS_DEPLOY_ROLE_ARN_DEV }}"
    )
    steps = [step for step in body["steps"] if _configures_aws(step)]
    assert {step["with"]["role-to-assume"] for step in steps} == {"${{ env.DEPLOY_ROLE_ARN }}"}


# --- Drift: preview --refresh --expect-no-changes -----------------------------------------


def test_drift_checks_both_deployed_stacks_of_main_each_with_its_preview_role() -> None:
    body = job(DRIFT, "drift")
    assert body["strategy"]["matrix"] == {
        "include": [
            {"stack": stack, "role": f"${{{{ vars.AWS_PREVIEW_ROLE_ARN_{stack.upper()} }}}}"}
            for stack in STACKS
        ]
    }
    assert role_to_assume(body) == "${{ matrix.role }}"
    assert body["strategy"]["fail-fast"] is False
    assert body["if"] == "github.ref == 'refs/heads/main'"
    assert workflow(DRIFT)["concurrency"]["group"] == "${{ github.workflow }}"


def test_drift_fails_when_a_refreshed_preview_finds_changes() -> None:
    body = job(DRIFT, "drift")
    step = pulumi_step(body)

    assert step["id"] == "preview"
    assert step["with"]["command"] == "preview"
    assert step["with"]["stack-name"] == "${{ matrix.stack }}"
    assert step["with"]["refresh"] is True
    assert step["with"]["expect-no-changes"] is True
    assert "continue-on-error" not in step
    assert runs(body)[0] == "make venv"  # the program's venv, before pulumi runs it


def test_drift_writes_the_diff_to_the_job_summary_when_it_fails() -> None:
    body = job(DRIFT, "drift")
    preview = index_of(body, "runs a pulumi/actions command", _is_pulumi)
    summary = index_of(
        body, "writes the summary", lambda s: "GITHUB_STEP_SUMMARY" in s.get("run", "")
    )
    step = body["steps"][summary]

    assert preview < summary
    assert step["if"] == "failure() && steps.preview.outcome == 'failure'"
    assert step["env"]["STACK"] == "${{ matrix.stack }}"
    assert (
        'pulumi preview --refresh --diff --non-interactive --color never --stack "$STACK"'
        in step["run"]
    )
    assert step["run"].rstrip().endswith('} >> "$GITHUB_STEP_SUMMARY"')


def role_to_assume(body: Job) -> str:
    return step_named(body, "configures AWS credentials", _configures_aws)["with"]["role-to-assume"]


def test_previews_run_in_no_environment() -> None:
    # In an environment the OIDC subject would be the environment's, which no preview role
    # trusts.
    assert "environment" not in job(DRIFT, "drift")
    assert "environment" not in job(PULL_REQUEST, "preview")


# --- Every Pulumi job ---------------------------------------------------------------------


PULUMI_JOBS = [(PULL_REQUEST, "preview"), (DEPLOY_STACK, DEPLOY_STACK_JOB)]
# Every job that reaches AWS: the ones above, and the integration and drift jobs.
AWS_JOBS = [*PULUMI_JOBS, (INTEGRATION, "integration"), (DRIFT, "drift")]
READ_ONLY_JOBS = {"preview", "drift"}


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
    pulumi = index_of(body, "runs a pulumi/actions command", _is_pulumi)

    assert install < pulumi
    assert credentials < pulumi
    assert "policy/requirements.txt" in body["steps"][install]["run"]


@pytest.mark.parametrize(("name", "job_id"), AWS_JOBS)
def test_pulumi_secrets_reach_only_the_steps_that_run_pulumi(name: str, job_id: str) -> None:
    body = job(name, job_id)
    secrets = {secret: f"${{{{ secrets.{secret} }}}}" for secret in PULUMI_SECRETS}

    assert body["env"]["PULUMI_BACKEND_URL"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert not set(PULUMI_SECRETS) & set(body["env"])  # not the whole job's
    for step in body["steps"]:
        given = {k: v for k, v in step.get("env", {}).items() if k in PULUMI_SECRETS}
        assert given == (secrets if _runs_pulumi(step) else {}), step.get("name", step.get("uses"))


@pytest.mark.parametrize(("name", "job_id"), AWS_JOBS)
def test_the_stack_gets_the_bootstraps_boundary_before_pulumi_runs_it(
    name: str, job_id: str
) -> None:
    body = job(name, job_id)
    credentials = index_of(body, "configures AWS credentials", _configures_aws_first)
    cli = index_of(body, "installs the Pulumi CLI", _installs_pulumi)
    boundary = index_of(body, "sets instanceRoleBoundary", _sets_the_boundary)
    runs_program = [
        i
        for i, step in enumerate(body["steps"])
        if _is_pulumi(step) or _runs_make_integration(step)
    ]
    step = body["steps"][boundary]

    assert max(credentials, cli) < boundary < min(runs_program)
    assert step["env"]["INSTANCE_ROLE_BOUNDARY"] == "${{ vars.INSTANCE_ROLE_BOUNDARY }}"
    assert '"${INSTANCE_ROLE_BOUNDARY:?' in step["run"]  # an unset variable stops the job
    set_it = 'pulumi config set instanceRoleBoundary "$INSTANCE_ROLE_BOUNDARY" --stack "$STACK"'
    assert set_it in step["run"]
    assert step["env"]["STACK"] == pulumi_stack(body)


def _configures_aws_first(step: Step) -> bool:
    return _configures_aws(step) and "if" not in step


def pulumi_stack(body: Job) -> str:
    """The stack a job's Pulumi command runs on (the integration job's stack file)."""
    if any(_runs_make_integration(step) for step in body["steps"]):
        return step_named(body, "runs make integration", _runs_make_integration)["env"]["STACK"]
    return pulumi_step(body)["with"]["stack-name"]


# --- Credentials and permissions ----------------------------------------------------------


def test_aws_credentials_are_configured_exactly_in_the_pulumi_jobs() -> None:
    assert aws_jobs() == AWS_JOBS


@pytest.mark.parametrize(("name", "job_id"), AWS_JOBS)
def test_aws_credentials_come_from_oidc(name: str, job_id: str) -> None:
    body = job(name, job_id)
    steps = [step for step in body["steps"] if _configures_aws(step)]

    # Previews and drift checks read; only deploys (and the throw-away integration stacks in
    # their stack file's environment) may change anything.
    kind = "AWS_PREVIEW_ROLE_ARN_" if job_id in READ_ONLY_JOBS else "AWS_DEPLOY_ROLE_ARN_"
    # Where the job's role comes from: the variables it can resolve to.
    sources = {
        "${{ inputs.role-to-assume }}": [c["with"]["role-to-assume"] for c in map(caller, STACKS)],
        "${{ matrix.role }}": [e["role"] for e in body.get("strategy", {}).get("matrix", {}).get(
            "include", [])],
        "${{ env.DEPLOY_ROLE_ARN }}": [body.get("env", {}).get("DEPLOY_ROLE_ARN", "")],
    }  # fmt: skip

    assert body["permissions"]["id-token"] == "write"
    assert steps
    for step in steps:
        role = step["with"]["role-to-assume"]
        variables = set(re.findall(r"vars\.([A-Z_]+)", " ".join(sources.get(role, [role]))))
        assert variables, role
        assert all(variable.startswith(kind) for variable in variables), (role, variables)
        assert step["with"]["aws-region"] == "${{ vars.AWS_REGION }}"


def test_workflows_read_only_variables_the_bootstrap_outputs() -> None:
    text = "".join((WORKFLOW_DIR / name).read_text(encoding="utf-8") for name in WORKFLOWS)
    read = set(re.findall(r"vars\.([A-Z_]+)", text))

    assert read == {
        "AWS_DEPLOY_ROLE_ARN_DEV", "AWS_DEPLOY_ROLE_ARN_STAGING", "AWS_DEPLOY_ROLE_ARN_PROD",
        "AWS_PREVIEW_ROLE_ARN_DEV", "AWS_PREVIEW_ROLE_ARN_PROD",
        "AWS_REGION", "INSTANCE_ROLE_BOUNDARY", "PULUMI_BACKEND_URL", "PULUMI_SECRETS_PROVIDER_DEV",
        "PULUMI_SECRETS_PROVIDER_STAGING", "PULUMI_SECRETS_PROVIDER_PROD",
    }  # fmt: skip
    assert read <= set(bootstrap().exports)


def test_every_make_target_the_workflows_run_is_in_the_makefile() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = {
        target
        for line in makefile.splitlines()
        if (match := re.match(r"^([\w .-]+):(?!=)", line))
        for target in match[1].split()
    }
    run = [str(step.get("run", "")) for _, _, body in all_jobs() for step in body.get("steps", [])]
    called = {target for text in run for target in re.findall(r"\bmake ([\w-]+)", text)}
    assert {"test", "venv", "integration", "integration-cleanup"} <= called
    assert called <= targets


@pytest.mark.parametrize("name", WORKFLOWS)
def test_no_long_lived_aws_keys(name: str) -> None:
    text = (WORKFLOW_DIR / name).read_text(encoding="utf-8").lower()
    for key in ("aws-access-key-id", "aws-secret-access-key", "aws_access_key_id"):
        assert key not in text


LEVELS = {"none": 0, "read": 1, "write": 2}


@pytest.mark.parametrize("stack", STACKS)
def test_each_caller_grants_what_the_reusable_workflow_asks_for(stack: str) -> None:
    granted = caller(stack)["permissions"]
    for body in workflow(DEPLOY_STACK)["jobs"].values():
        for scope, level in body["permissions"].items():
            assert LEVELS[granted.get(scope, "none")] >= LEVELS[level], scope


# --- Actions pinned -----------------------------------------------------------------------


def test_each_action_is_pinned_to_the_same_commit_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for _, _, body in all_jobs():
        for step in body.get("steps", []):
            if "uses" in step:
                pins.setdefault(action(step), set()).add(step["uses"])
    assert {PULUMI_ACTION, AWS_CREDENTIALS_ACTION} <= set(pins)
    assert {name: len(refs) for name, refs in pins.items()} == dict.fromkeys(pins, 1)


@pytest.mark.parametrize("name", WORKFLOWS)
def test_every_action_is_pinned_to_a_commit_sha(name: str) -> None:
    uses = [
        str(reference)
        for body in workflow(name)["jobs"].values()
        for reference in [body.get("uses"), *(step.get("uses") for step in body.get("steps", []))]
        if reference is not None
    ]
    assert uses
    for reference in uses:
        if reference.startswith("./"):  # this repository's own, run from the caller's commit
            assert (ROOT / reference).is_file(), reference
        else:
            assert SHA_PINNED.match(reference), reference

    lines = (WORKFLOW_DIR / name).read_text(encoding="utf-8").splitlines()
    for line in lines:
        match = USES_LINE.match(line)
        if match and not match["ref"].startswith("./"):
            assert VERSION_COMMENT.match(match["rest"]), f"no '# vX.Y.Z' after the SHA: {line}"
