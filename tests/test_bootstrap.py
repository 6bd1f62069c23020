"""The account bootstrap (bootstrap/): its resources under Pulumi's mocks, its validation, and its
roles' policies, checked against the main program (every resource type and lookup of every stack
and mode has permissions) and linted with parliament."""

from __future__ import annotations

import fnmatch
import functools
import json
import re
import runpy
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import jsonschema
import pulumi
import pytest
import yaml
from pulumi.runtime import mocks

import stack_settings
from bootstrap import environments, policies
from bootstrap.settings import BootstrapSettingsError, repository_problem
from components.backend.app_access import ECR_LOGIN_ACTION, ECR_PULL_ACTIONS
from tests import pulumi_internals
from tests.conftest import MODE_IDS, MODES
from tests.harness import (
    ACCOUNT_ID,
    PROJECT_DIR,
    PROJECT_NAME,
    SHIPPED_STACKS,
    TEST_STACKS,
    RecordingMocks,
    RecordingMonitor,
    Resource,
    Run,
    run_stack,
    stack_names,
)

with warnings.catch_warnings():
    # parliament 1.6 loads its data through pkg_resources and leaves the files open.
    warnings.simplefilter("ignore")
    from parliament import analyze_policy_string, iam_definition

BOOTSTRAP_DIR = PROJECT_DIR / "bootstrap"
BOOTSTRAP = yaml.safe_load((BOOTSTRAP_DIR / "Pulumi.yaml").read_text())
BOOTSTRAP_NAME: str = BOOTSTRAP["name"]
SCHEMA = json.loads((Path(__file__).parent / "data" / "pulumi-project.schema.json").read_text())
REGION = "eu-west-1"
REPOSITORY = "octo-org/cdn-alb-backend"
OIDC_HOST = "token.actions.githubusercontent.com"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{OIDC_HOST}"
STATE_BUCKET = f"cdn-alb-backend-state-{ACCOUNT_ID}-{REGION}"
STATE_BUCKET_ARN = f"arn:aws:s3:::{STATE_BUCKET}"
# The test stack files' Environment tags (tests/stacks/): their stacks, and the GitHub environment
# of the deploys.
ENVIRONMENTS = {"dev": (("dev",), "dev"), "prod": (("prod",), "production"),
                "staging": (("staging",), "staging")}  # fmt: skip
ROLES = [f"{kind}-{env}" for env in ENVIRONMENTS for kind in ("deploy", "preview")]


def key_id(name: str) -> str:
    return f"{name}-id"


def key_arn(name: str) -> str:
    """The mocks' ARN of the KMS key named `name` (state-key: the bucket's; state-<env>-key)."""
    return f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id(name)}"


BUCKET_KEY_ARN = key_arn("state-key")


# ------------------------------------------------------------------------ bootstrap runs
ANSWERS: dict[str, dict[str, Any]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/administrator",
        "userId": "AIDAEXAMPLEADMINISTRATOR",
        "id": ACCOUNT_ID,
    },
    "aws:index/getPartition:getPartition": {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
        "id": "aws",
    },
    "aws:index/getRegion:getRegion": {
        "region": REGION,
        "name": REGION,
        "endpoint": f"ec2.{REGION}.amazonaws.com",
        "description": "Europe (Ireland)",
        "id": REGION,
    },
    "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider": {
        "arn": PROVIDER_ARN,
        "url": OIDC_HOST,
        "clientIdLists": ["sts.amazonaws.com"],
        "thumbprintLists": [],
        "tags": {},
        "id": PROVIDER_ARN,
    },
}


def _account_outputs(type_: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """ARNs in the shapes IAM and KMS give them, which the policies embed."""
    iam = f"arn:aws:iam::{ACCOUNT_ID}"
    return {
        "aws:iam/role:Role": {"arn": f"{iam}:role/{outputs['name']}"},
        "aws:iam/policy:Policy": {"arn": f"{iam}:policy/{outputs['name']}"},
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider": {"arn": PROVIDER_ARN},
    }.get(type_, {})


class BootstrapMocks(RecordingMocks):
    """The harness's mocks, answering the bootstrap's lookups of the account too."""

    def call(self, args: mocks.MockCallArgs) -> Any:
        try:
            return super().call(args)  # records the invoke
        except NotImplementedError:
            return ANSWERS[args.token]

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        id_, outputs = super().new_resource(args)
        if args.typ == "aws:kms/key:Key":
            outputs = {**outputs, "arn": key_arn(args.name), "keyId": key_id(args.name)}
        return id_, {**outputs, **_account_outputs(args.typ, outputs)}


def _wire_value(value: Any) -> str:
    """A config value as the Pulumi CLI hands it to the program: strings as-is, else JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def bootstrap_config(**overrides: str) -> dict[str, str]:
    """bootstrap/Pulumi.yaml's defaults, a repository and a region, then `overrides`."""
    config = {
        f"{BOOTSTRAP_NAME}:{key}": _wire_value(declaration["default"])
        for key, declaration in BOOTSTRAP["config"].items()
    }
    config |= {f"{BOOTSTRAP_NAME}:githubRepository": REPOSITORY, "aws:region": REGION}
    return config | {f"{BOOTSTRAP_NAME}:{key}": value for key, value in overrides.items()}


def run_bootstrap(
    config: Mapping[str, str], stack_files: Path = TEST_STACKS
) -> tuple[Run, BaseException | None]:
    """bootstrap/__main__.py under the mocks, in the bootstrap's own project, with the stack
    files of `stack_files` (the tests' own, like the main program's)."""
    run = Run()
    recording = BootstrapMocks(run, zones=[])
    pulumi.runtime.set_all_config(dict(config))
    pulumi_internals.reset_root_stack()
    pulumi.runtime.set_mocks(
        recording,
        project=BOOTSTRAP_NAME,
        stack="account",
        preview=False,
        monitor=RecordingMonitor(recording, run),
    )

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        runpy.run_path(str(BOOTSTRAP_DIR / "__main__.py"), run_name="__main__")
        outputs = pulumi_internals.root_stack_outputs()
        return pulumi.Output.all(**outputs).apply(run.exports.update)

    try:
        with mock.patch.object(environments, "STACK_FILES_DIR", stack_files):
            program()
    except Exception as error:  # noqa: BLE001 - handed to the caller
        return run, error
    return run, None


@functools.cache
def bootstrap(**overrides: str) -> Run:
    run, error = run_bootstrap(bootstrap_config(**overrides))
    if error is not None:
        raise error
    return run


def policy_documents(run: Run, role: str) -> list[dict[str, Any]]:
    """The managed policies attached to `github-<role>` (`deploy-dev`), in order."""
    prefix = f"github-{role}-"
    return [
        json.loads(resource.inputs["policy"])
        for resource in sorted(run.of_type("aws:iam/policy:Policy"), key=lambda r: r.name)
        if resource.name.startswith(prefix)
    ]


def role_statements(role: str) -> list[dict[str, Any]]:
    return [s for document in policy_documents(bootstrap(), role) for s in document["Statement"]]


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


# ------------------------------------------------------------------------- project file
def test_project_file_matches_pulumis_schema_and_declares_every_key() -> None:
    jsonschema.validate(BOOTSTRAP, SCHEMA)
    assert policies.MAIN_PROJECT == PROJECT_NAME
    assert BOOTSTRAP["runtime"]["options"]["virtualenv"] == "../venv"
    for key, declaration in BOOTSTRAP["config"].items():
        assert {"type", "description", "default"} <= set(declaration), key


def test_the_shipped_stack_files_give_the_bootstrap_its_environments_and_project_tag() -> None:
    stack_files = environments.read_stack_files(SHIPPED_STACKS)

    assert stack_files.problems == ()
    assert stack_files.project_tag
    assert {s for e in stack_files.environments for s in e.stacks} == set(stack_names())


def write_stack_files(directory: Path, tags: Mapping[str, Mapping[str, str]]) -> Path:
    for stack, stack_tags in tags.items():
        config = {"config": {"aws:defaultTags": {"tags": dict(stack_tags)}}}
        (directory / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return directory


def test_the_roles_reach_the_project_tag_of_the_stack_files(tmp_path: Path) -> None:
    tags = {stack: {"Project": "orders-api", "Environment": stack} for stack in ("dev", "qa")}
    run, error = run_bootstrap(bootstrap_config(), write_stack_files(tmp_path, tags))
    assert error is None
    documents = [json.loads(r.inputs["policy"]) for r in run.of_type("aws:iam/policy:Policy")]
    project_tags = {
        value
        for document in documents
        for statement in document["Statement"]
        for test in statement.get("Condition", {}).values()
        for key, value in test.items()
        if key.endswith("Tag/Project")
    }

    assert {role.name for role in run.of_type("aws:iam/role:Role")} == {
        f"github-{kind}-{env}" for kind in ("deploy", "preview") for env in ("dev", "qa")
    }
    assert project_tags == {"orders-api"}


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        (
            {"dev": {"Environment": "dev"}},
            "Pulumi.dev.yaml: aws:defaultTags.tags.Project None is missing or invalid: ",
        ),
        (
            {"dev": {"Project": "a,b", "Environment": "dev"}},
            "Pulumi.dev.yaml: aws:defaultTags.tags.Project 'a,b' is missing or invalid: ",
        ),
        (
            {"dev": {"Project": "p"}},
            "Pulumi.dev.yaml: aws:defaultTags.tags.Environment None is missing or invalid: ",
        ),
        (
            {
                "dev": {"Project": "a", "Environment": "dev"},
                "prod": {"Project": "b", "Environment": "prod"},
            },
            "the stack files tag different projects "
            "(Pulumi.dev.yaml: 'a'; Pulumi.prod.yaml: 'b'): ",
        ),
    ],
)
def test_stack_files_without_one_good_project_tag_are_refused(
    tmp_path: Path, tags: Mapping[str, Mapping[str, str]], problem: str
) -> None:
    [found] = environments.read_stack_files(write_stack_files(tmp_path, tags)).problems

    assert found.startswith(problem)


# --------------------------------------------------------------------------- resources
def trust(run: Run, role: str) -> dict[str, Any]:
    return json.loads(run.named(f"github-{role}").inputs["assumeRolePolicy"])


def expected_trust(subjects: list[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GithubActions",
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER_ARN},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{OIDC_HOST}:aud": "sts.amazonaws.com",
                        f"{OIDC_HOST}:sub": subjects,
                    }
                },
            }
        ],
    }


def test_roles_are_made_per_environment_of_the_stack_files() -> None:
    roles = {r.name: r.inputs["name"] for r in bootstrap().of_type("aws:iam/role:Role")}
    assert roles == {f"github-{role}": f"cdn-alb-backend-github-{role}" for role in ROLES}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_deploy_role_trusts_only_its_environments_github_environment(env: str) -> None:
    github_environment = ENVIRONMENTS[env][1]
    assert trust(bootstrap(), f"deploy-{env}") == expected_trust(
        [f"repo:{REPOSITORY}:environment:{github_environment}"]
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_preview_roles_trust_main_and_only_devs_trusts_pull_requests(env: str) -> None:
    main = f"repo:{REPOSITORY}:ref:refs/heads/main"
    subjects = [f"repo:{REPOSITORY}:pull_request", main] if env == "dev" else [main]
    assert trust(bootstrap(), f"preview-{env}") == expected_trust(subjects)


def test_the_oidc_provider_is_githubs_for_sts() -> None:
    provider = bootstrap().one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["url"] == f"https://{OIDC_HOST}"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]


def test_an_existing_oidc_provider_is_looked_up_instead() -> None:
    run = bootstrap(createOidcProvider="false")

    assert not run.of_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    [lookup] = [i for i in run.invokes if i.token.endswith("getOpenIdConnectProvider")]
    assert lookup.args["url"] == f"https://{OIDC_HOST}"
    assert trust(run, "deploy-dev")["Statement"][0]["Principal"] == {"Federated": PROVIDER_ARN}


def test_sessions_last_long_enough_for_a_deploy_and_no_longer_for_a_preview() -> None:
    run = bootstrap()
    for env in ENVIRONMENTS:
        assert run.named(f"github-deploy-{env}").inputs["maxSessionDuration"] == 7200
        assert run.named(f"github-preview-{env}").inputs["maxSessionDuration"] == 3600


def test_state_bucket_is_versioned_kms_encrypted_private_and_tls_only() -> None:
    run = bootstrap()
    bucket = run.one("aws:s3/bucket:Bucket")
    assert bucket.inputs["bucket"] == STATE_BUCKET
    [encryption] = run.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    ).inputs["rules"]
    assert encryption == {
        "applyServerSideEncryptionByDefault": {
            "sseAlgorithm": "aws:kms",
            "kmsMasterKeyId": BUCKET_KEY_ARN,
        },
        "bucketKeyEnabled": True,
    }
    versioning = run.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}
    block = run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    blocks = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(block[key] is True for key in blocks)
    ownership = run.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    [deny] = json.loads(run.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [STATE_BUCKET_ARN, f"{STATE_BUCKET_ARN}/*"]


def test_replaced_state_versions_expire_after_the_configured_days() -> None:
    lifecycle = bootstrap(stateVersionRetentionDays="30").one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    )
    [rule] = lifecycle.inputs["rules"]
    assert rule["status"] == "Enabled"
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}


def test_the_bucket_key_and_each_environments_key_rotate_and_have_aliases() -> None:
    run = bootstrap()
    keys = {key.name: key.inputs for key in run.of_type("aws:kms/key:Key")}
    assert set(keys) == {"state-key", *(f"state-{env}-key" for env in ENVIRONMENTS)}
    assert all(key["enableKeyRotation"] is True for key in keys.values())
    aliases = {
        a.inputs["name"]: a.inputs["targetKeyId"] for a in run.of_type("aws:kms/alias:Alias")
    }
    assert aliases == {
        "alias/cdn-alb-backend-state": key_id("state-key"),
        **{f"alias/cdn-alb-backend-{env}": key_id(f"state-{env}-key") for env in ENVIRONMENTS},
    }


def key_policy(name: str) -> dict[str, Any]:
    return json.loads(bootstrap().named(name).inputs["policy"])


def role_arn(role: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role/cdn-alb-backend-github-{role}"


@pytest.mark.parametrize("name", ["state-key", *(f"state-{env}-key" for env in ENVIRONMENTS)])
def test_each_key_has_an_explicit_policy_the_account_administers(name: str) -> None:
    administer, administrators_use, *uses = key_policy(name)["Statement"]
    root = {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}
    assert administer["Principal"] == root
    assert "kms:PutKeyPolicy" in administer["Action"]  # the break-glass: a new key policy
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} & set(administer["Action"])
    # Administrators may use it; the CI roles only as named below, not through IAM.
    assert administrators_use["Principal"] == root
    assert administrators_use["Condition"] == {
        "ArnNotLike": {
            "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT_ID}:role/cdn-alb-backend-github-*"
        }
    }
    assert uses


def test_the_bucket_key_serves_the_ci_roles_only_through_s3_for_the_state_bucket() -> None:
    _, _, deployers, previewers = key_policy("state-key")["Statement"]
    through_s3 = {
        "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
        "StringLike": {
            "kms:EncryptionContext:aws:s3:arn": [STATE_BUCKET_ARN, f"{STATE_BUCKET_ARN}/*"]
        },
    }
    assert deployers["Principal"] == {"AWS": sorted(role_arn(f"deploy-{e}") for e in ENVIRONMENTS)}
    assert deployers["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert previewers["Principal"] == {
        "AWS": sorted(role_arn(f"preview-{e}") for e in ENVIRONMENTS)
    }
    assert previewers["Action"] == ["kms:Decrypt"]
    assert deployers["Condition"] == previewers["Condition"] == through_s3


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_an_environments_secrets_key_serves_only_its_two_roles(env: str) -> None:
    _, _, deployer, previewer = key_policy(f"state-{env}-key")["Statement"]
    assert deployer["Principal"] == {"AWS": [role_arn(f"deploy-{env}")]}
    assert deployer["Action"] == ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    assert previewer["Principal"] == {"AWS": [role_arn(f"preview-{env}")]}
    assert previewer["Action"] == ["kms:Decrypt"]


def test_outputs_are_exactly_the_repository_variables_the_workflows_read() -> None:
    run = bootstrap()
    per_environment = {
        f"{variable}_{env.upper()}": value
        for env in ENVIRONMENTS
        for variable, value in (
            ("AWS_DEPLOY_ROLE_ARN", role_arn(f"deploy-{env}")),
            ("AWS_PREVIEW_ROLE_ARN", role_arn(f"preview-{env}")),
            ("PULUMI_SECRETS_PROVIDER", f"awskms://alias/cdn-alb-backend-{env}?region={REGION}"),
        )
    }
    assert run.exports == {
        **per_environment,
        "AWS_REGION": REGION,
        "INSTANCE_ROLE_BOUNDARY": "cdn-alb-backend-instance-boundary",
        "PULUMI_BACKEND_URL": f"s3://{STATE_BUCKET}?region={REGION}",
    }


def test_every_resource_is_inside_a_component() -> None:
    run = bootstrap()
    components = {r.urn for r in run.resources if r.type.startswith(f"{BOOTSTRAP_NAME}:")}
    assert components
    assert all(r.parent_urn in components for r in run.resources if r.urn not in components)


# -------------------------------------------------------------------------- validation
BAD_SETTINGS = [
    ("githubRepository", ""),
    ("githubRepository", "cdn-alb-backend"),
    ("githubRepository", "octo-org/"),
    ("githubRepository", "/cdn-alb-backend"),
    ("githubRepository", "octo-org/cdn-alb-backend/tree/main"),
    ("githubRepository", "https://github.com/octo-org/cdn-alb-backend"),
    ("githubRepository", "octo-org/cdn-alb-backend.git"),
    ("githubRepository", "-octo-org/cdn-alb-backend"),
    ("githubRepository", "octo--org/cdn-alb-backend"),
    ("githubRepository", f"{'o' * 40}/cdn-alb-backend"),
    ("githubRepository", "octo org/cdn-alb-backend"),
    ("githubRepository", "octo-org/.."),
    ("githubRepository", "octo-org/*"),
    ("stateVersionRetentionDays", "0"),
    ("stateVersionRetentionDays", "3651"),
    ("stateVersionRetentionDays", "-1"),
    ("stateVersionRetentionDays", "ninety"),
    ("createOidcProvider", "yes"),
    ("hostedZoneIds", "Z0123456789ABC"),
    ("hostedZoneIds", '["example.com"]'),
    ("hostedZoneIds", '["/hostedzone/Z0123456789ABC"]'),
]


@pytest.mark.parametrize(("key", "value"), BAD_SETTINGS)
def test_bad_settings_are_refused_by_name_before_anything_happens(key: str, value: str) -> None:
    run, error = run_bootstrap(bootstrap_config(**{key: value}))

    assert isinstance(error, BootstrapSettingsError)
    [problem] = error.problems
    assert problem.startswith(f"{key} {value!r} ")
    assert run.resources == []
    assert run.invokes == []


def test_every_problem_is_reported_at_once() -> None:
    _, error = run_bootstrap(
        bootstrap_config(githubRepository="octo-org", stateVersionRetentionDays="0")
    )
    assert isinstance(error, BootstrapSettingsError)
    assert [problem.split()[0] for problem in error.problems] == [
        "githubRepository",
        "stateVersionRetentionDays",
    ]


@pytest.mark.parametrize(
    "repository",
    ["octo-org/cdn-alb-backend", "a/b", "Octo-Org/Repo.Name_2", f"{'o' * 39}/.github", "o/x.gitx"],
)
def test_repositories_as_github_names_them_are_accepted(repository: str) -> None:
    assert repository_problem(repository) is None


# ------------------------------------------------------ coverage of the main program
# A resource type with permissions that no stack or mode creates, and why.
ONLY_WITH_OTHER_CONFIG = {
    "aws:sns/topicSubscription:TopicSubscription": "alarmEmail, which no stack file or mode sets",
    "aws:iam/rolePolicy:RolePolicy": "appImage or appSecrets, which no stack file or mode sets",
    # Stacks deployed before the instance role dropped AmazonSSMManagedInstanceCore delete
    # that attachment once.
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "stacks deployed by earlier versions",
}
# The IAM service of each pulumi-aws module (CloudWatch Logs types live in `cloudwatch` too).
SERVICES = {
    "ec2": "ec2", "vpc": "ec2", "ec2transitgateway": "ec2", "lb": "elasticloadbalancing",
    "autoscaling": "autoscaling", "iam": "iam", "cloudfront": "cloudfront", "wafv2": "wafv2",
    "acm": "acm", "route53": "route53", "s3": "s3", "sns": "sns", "cloudwatch": "cloudwatch",
}  # fmt: skip


def iam_service(type_: str) -> str:
    """The IAM service of a resource type's actions; "" for the program's own boto3 resources,
    whose every action says why it is needed."""
    if type_.startswith("pulumi-python:dynamic"):
        return ""
    module = type_.split(":")[1].split("/", maxsplit=1)[0]
    return "logs" if type_.startswith("aws:cloudwatch/log") else SERVICES[module]


def given_name(resource: Resource) -> str:
    """The name AWS gets: set by the program, or Pulumi's (a prefix plus a random suffix)."""
    if "namePrefix" in resource.inputs:
        return f"{resource.inputs['namePrefix']}0a1b2c3"
    name_input = {
        "aws:s3/bucket:Bucket": "bucket",
        "aws:cloudwatch/dashboard:Dashboard": "dashboardName",
    }
    return resource.outputs.get(name_input.get(resource.type, "name"), "")


@functools.cache
def main_program_runs() -> tuple[Run, ...]:
    return tuple(run_stack(stack, **overrides) for stack, overrides in MODES)


def main_program_resources() -> list[Resource]:
    return [r for run in main_program_runs() for r in run.resources if r.custom]


@pytest.mark.parametrize(("stack", "overrides"), MODES, ids=MODE_IDS)
def test_every_resource_type_and_lookup_has_permissions(
    stack: str, overrides: dict[str, str]
) -> None:
    run = run_stack(stack, **overrides)

    assert {r.type for r in run.resources if r.custom} - set(policies.RESOURCE_PERMISSIONS) == set()
    assert {i.token for i in run.invokes} - set(policies.INVOKE_PERMISSIONS) == set()


def test_no_permissions_for_what_the_program_no_longer_creates_or_looks_up() -> None:
    types = {r.type for r in main_program_resources()}
    tokens = {i.token for run in main_program_runs() for i in run.invokes}

    assert set(policies.RESOURCE_PERMISSIONS) - types == set(ONLY_WITH_OTHER_CONFIG)
    assert set(policies.INVOKE_PERMISSIONS) - tokens == set()


@pytest.mark.parametrize("type_", sorted(policies.RESOURCE_PERMISSIONS))
def test_actions_belong_to_the_resources_service_or_say_why(type_: str) -> None:
    for grant in policies.RESOURCE_PERMISSIONS[type_]:
        foreign = [a for a in grant.actions if a.split(":")[0] != iam_service(type_)]
        assert not foreign or grant.why, f"{type_}: {foreign} need a reason"


def test_the_program_names_its_resources_as_the_scopes_expect() -> None:
    for resource in main_program_resources():
        pattern = policies.NAMED_RESOURCES.get(resource.type)
        name = given_name(resource)
        assert pattern is None or fnmatch.fnmatchcase(name, pattern), (name, pattern)


BOUNDARY_ARN = f"arn:aws:iam::{ACCOUNT_ID}:policy/cdn-alb-backend-instance-boundary"
# What can change an instance role's permissions; each only while the role has the boundary.
ROLE_PERMISSION_WRITES = {
    "iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:AttachRolePolicy",
    "iam:DetachRolePolicy", "iam:PutRolePermissionsBoundary",
}  # fmt: skip
NEVER_ALLOWED = {
    "iam:DeleteRolePermissionsBoundary", "iam:UpdateAssumeRolePolicy", "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
}  # fmt: skip


def allowed(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if s["Effect"] == "Allow"]


def test_instance_role_permissions_change_only_within_the_boundary() -> None:
    granting = [
        s
        for s in allowed(role_statements("deploy-dev"))
        if ROLE_PERMISSION_WRITES & set(s["Action"])
    ]
    assert {a for s in granting for a in s["Action"]} >= ROLE_PERMISSION_WRITES
    for statement in granting:
        condition = statement["Condition"]["ArnEquals"]
        assert condition == {"iam:PermissionsBoundary": BOUNDARY_ARN}, statement["Sid"]
        # IAM evaluates the key for each of these actions (else the condition never matches).
        for action in statement["Action"]:
            keys = {k for rt in privilege(action)["resource_types"] for k in rt["condition_keys"]}
            assert "iam:PermissionsBoundary" in keys, action


def test_the_boundary_can_be_neither_removed_nor_edited_nor_a_trust_changed() -> None:
    statements = role_statements("deploy-dev")
    granted = {a for s in allowed(statements) for a in s["Action"]}
    denied = {a for s in statements if s["Effect"] == "Deny" for a in s["Action"]}
    assert granted & NEVER_ALLOWED == set()
    assert denied == NEVER_ALLOWED


def test_the_boundary_allows_only_what_an_instance_needs_and_only_on_an_instance() -> None:
    policy = bootstrap().named("instance-boundary-policy").inputs
    boundary = json.loads(policy["policy"])
    assert policy["name"] == "cdn-alb-backend-instance-boundary"
    actions = {a for s in boundary["Statement"] for a in s["Action"]}
    assert actions == {
        "ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability", "ssm:GetParameter", "ssm:GetParameters",
        "secretsmanager:GetSecretValue", "kms:Decrypt",
    }  # fmt: skip
    for statement in boundary["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Condition"]["Null"] == {"ec2:SourceInstanceARN": "false"}
    [decrypt] = [s for s in boundary["Statement"] if s["Action"] == ["kms:Decrypt"]]
    assert decrypt["Condition"]["StringLike"] == {
        "kms:ViaService": ["ssm.*.amazonaws.com", "secretsmanager.*.amazonaws.com"]
    }


def test_the_app_read_policy_fits_inside_the_boundary() -> None:
    """The instance role's inline policy (the app's reads) asks for nothing the boundary cuts."""
    boundary = json.loads(bootstrap().named("instance-boundary-policy").inputs["policy"])
    allowed_actions = {a for s in boundary["Statement"] for a in s["Action"]}
    assert {ECR_LOGIN_ACTION, *ECR_PULL_ACTIONS} <= allowed_actions


def test_the_program_puts_the_configured_boundary_on_its_instance_role() -> None:
    """The program side of the boundary: `instanceRoleBoundary` names the bootstrap's policy."""
    run = run_stack("dev", instanceRoleBoundary=policies.INSTANCE_ROLE_BOUNDARY)
    [role] = run.of_type("aws:iam/role:Role")
    assert role.inputs["permissionsBoundary"] == BOUNDARY_ARN


def test_the_program_attaches_no_managed_policy() -> None:
    """A managed policy's reads (AmazonSSMManagedInstanceCore: every SSM parameter) would reach
    past the app's own image and secrets."""
    attachments = [r for r in main_program_resources() if r.type.endswith("RolePolicyAttachment")]
    assert attachments == []


def test_the_dynamic_provider_can_roll_out_and_resolve_images() -> None:
    statements = allowed(role_statements("deploy-dev"))

    def resources_of(action: str) -> set[str]:
        return {r for s in statements if action in s["Action"] for r in as_list(s["Resource"])}

    group = (
        f"arn:aws:autoscaling:*:{ACCOUNT_ID}:autoScalingGroup:*:autoScalingGroupName/backend-asg-*"
    )
    for action in ("autoscaling:StartInstanceRefresh", "autoscaling:CancelInstanceRefresh"):
        assert resources_of(action) == {group}, action
    for action in (
        "autoscaling:DescribeInstanceRefreshes",
        "autoscaling:DescribeAutoScalingGroups",
        "ec2:DescribeImages",
    ):
        assert "*" in resources_of(action), action
    own_parameters = f"arn:aws:ssm:*:{ACCOUNT_ID}:parameter/cdn-alb-backend/*"
    for action in ("ssm:GetParameter", "ssm:GetParameters"):
        assert own_parameters in resources_of(action), action
    assert resources_of("cloudwatch:DescribeAlarms")


def test_the_program_writes_only_the_record_types_the_scope_allows() -> None:
    records = [r for r in main_program_resources() if r.type == "aws:route53/record:Record"]
    assert records
    assert {r.inputs["type"] for r in records} <= set(policies.DNS_RECORD_TYPES)


# --------------------------------------------------------------------- the policies
PRIVILEGES = {
    (service["prefix"], privilege["privilege"].lower()): privilege
    for service in iam_definition
    for privilege in service["privileges"]
}
RESOURCE_TYPES = {
    (service["prefix"], resource["resource"]): resource
    for service in iam_definition
    for resource in service["resources"]
}


def privilege(action: str) -> dict[str, Any]:
    prefix, name = action.split(":")
    return PRIVILEGES[(prefix, name.lower())]


def supports_resource_tag_condition(action: str) -> bool:
    """Whether IAM evaluates aws:ResourceTag on every resource type the action requires (or,
    when it requires none, on each it accepts)."""
    prefix = action.split(":", maxsplit=1)[0]
    accepted = [rt for rt in privilege(action)["resource_types"] if rt["resource_type"]]
    required = [rt for rt in accepted if rt["resource_type"].endswith("*")] or accepted
    return bool(required) and all(
        any(
            "ResourceTag" in key
            for key in (
                *RESOURCE_TYPES[(prefix, rt["resource_type"].rstrip("*"))]["condition_keys"],
                *rt["condition_keys"],
            )
        )
        for rt in required
    )


def state_access(env: str) -> policies.StateAccess:
    return policies.StateAccess(
        STATE_BUCKET_ARN, BUCKET_KEY_ARN, key_arn(f"state-{env}-key"), REGION
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_roles_get_exactly_the_packed_policies_and_the_state_policy(env: str) -> None:
    context = policies.Context("aws", ACCOUNT_ID, "cdn-alb-backend", env)
    stacks = ENVIRONMENTS[env][0]
    for kind, expected, writable in (
        ("deploy", policies.deploy_statements(context), True),
        ("preview", policies.preview_statements(context), False),
    ):
        state = policies.state_statements(state_access(env), stacks, writable=writable)
        assert policy_documents(bootstrap(), f"{kind}-{env}") == [
            *policies.documents(expected),
            policies.document(state),
        ]


def test_each_policy_fits_a_managed_policy_and_a_role_fits_its_attachments() -> None:
    for role in ROLES:
        documents = policy_documents(bootstrap(), role)
        assert len(documents) <= 10
        assert all(policies.policy_size(d) <= policies.MANAGED_POLICY_LIMIT for d in documents)


def all_role_statements() -> list[dict[str, Any]]:
    return [statement for role in ROLES for statement in role_statements(role)]


def test_no_action_wildcards_and_every_action_is_known_to_iam() -> None:
    for statement in all_role_statements():
        for action in statement["Action"]:
            assert "*" not in action, action
            assert "?" not in action, action
            assert privilege(action), action


def test_wildcard_resources_only_for_actions_without_resource_level_permissions() -> None:
    for statement in all_role_statements():
        if statement["Resource"] == "*":
            scoped = [a for a in statement["Action"] if any(
                rt["resource_type"] for rt in privilege(a)["resource_types"])]  # fmt: skip
            assert scoped == [], statement["Sid"]


def tag_condition(statement: dict[str, Any]) -> str:
    """Which tag condition a statement has: "own", "new", "untagged" or ""."""
    condition = statement.get("Condition", {})
    equals = condition.get("StringEquals", {})
    if "aws:ResourceTag/Environment" in equals:
        return policies.OWN
    if "aws:RequestTag/Environment" in equals:
        untagged = condition.get("Null") == {"aws:ResourceTag/Environment": "true"}
        return policies.UNTAGGED if untagged else policies.NEW
    return ""


def condition_keys(action: str) -> set[str]:
    return {k for rt in privilege(action)["resource_types"] for k in rt["condition_keys"]}


@pytest.mark.parametrize("role", ["deploy-prod", "preview-prod"])
def test_tag_conditions_hold_the_role_to_its_environment_and_project(role: str) -> None:
    tagged = [s for s in role_statements(role) if tag_condition(s)]
    assert tagged
    for statement in tagged:
        equals = statement["Condition"]["StringEquals"]
        kind = "Resource" if tag_condition(statement) == policies.OWN else "Request"
        assert equals[f"aws:{kind}Tag/Environment"] == "prod", statement["Sid"]
        assert equals[f"aws:{kind}Tag/Project"] == "cdn-alb-backend", statement["Sid"]


def test_tag_conditions_are_on_actions_iam_evaluates_them_for() -> None:
    """A tag condition on an action that ignores it would never match (or, negated, always)."""
    for statement in role_statements("deploy-dev"):
        kind = tag_condition(statement)
        for action in statement["Action"] if kind else ():
            if kind == policies.OWN:
                assert supports_resource_tag_condition(action), (statement["Sid"], action)
            else:
                keys = condition_keys(action)
                assert "aws:RequestTag/${TagKey}" in keys, (statement["Sid"], action)


def test_ec2_creates_are_tagged_only_on_the_new_resources_own_types() -> None:
    """aws:RequestTag is the same for every resource of a request: on the account's every EC2
    resource it would let a create name anyone's VPC or subnet as the new resource's parent."""
    new_ec2 = [
        s for s in role_statements("deploy-dev")
        if tag_condition(s) == policies.NEW and s["Action"][0].startswith("ec2:")
    ]  # fmt: skip
    tag_on_create = [s for s in new_ec2 if s["Action"] == ["ec2:CreateTags"]]
    creates = [s for s in new_ec2 if s not in tag_on_create]
    assert creates
    for statement in creates:
        resources = as_list(statement["Resource"])
        assert all(re.fullmatch(r"arn:aws:ec2:\*:\d+:[a-z-]+/\*", r) for r in resources), resources
    [tag_on_create_statement] = tag_on_create
    assert tag_on_create_statement["Condition"]["StringEquals"]["ec2:CreateAction"] == sorted(
        {a for s in creates for a in s["Action"]}
    )


# Every write of the deploy roles that no tag condition holds to the environment, and why.
LOG_BUCKET_WRITES = (
    "s3:CreateBucket", "s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:DeleteObject",
    "s3:DeleteObjectVersion", "s3:PutBucketOwnershipControls", "s3:PutBucketPolicy",
    "s3:PutBucketPublicAccessBlock", "s3:PutBucketTagging", "s3:PutEncryptionConfiguration",
    "s3:PutLifecycleConfiguration",
)  # fmt: skip
AUTO_SCALING_WRITES = (
    "autoscaling:AttachLoadBalancerTargetGroups", "autoscaling:AttachTrafficSources",
    "autoscaling:CancelInstanceRefresh", "autoscaling:CreateAutoScalingGroup",
    "autoscaling:CreateOrUpdateTags", "autoscaling:DeleteAutoScalingGroup",
    "autoscaling:DeletePolicy", "autoscaling:DeleteTags",
    "autoscaling:DetachLoadBalancerTargetGroups", "autoscaling:DetachTrafficSources",
    "autoscaling:DisableMetricsCollection", "autoscaling:EnableMetricsCollection",
    "autoscaling:PutScalingPolicy", "autoscaling:StartInstanceRefresh",
    "autoscaling:UpdateAutoScalingGroup",
)  # fmt: skip
UNTAGGED_WRITES: dict[tuple[str, str], str] = {
    **dict.fromkeys(
        ((action, "LogBucket") for action in LOG_BUCKET_WRITES),
        "S3 evaluates no tags on bucket actions; the name (logs-bucket-*) is all there is",
    ),
    **dict.fromkeys(
        ((action, "AutoScalingGroup") for action in AUTO_SCALING_WRITES),
        "the provider's default tags do not reach Auto Scaling groups: backend-asg-* by name",
    ),
    ("cloudfront:CreateDistribution", "CloudFront"): "CloudFront evaluates no request tags "
    "on it; it only creates (the tags it sets need cloudfront:TagResource, which is held)",
    ("cloudwatch:PutDashboard", "Dashboards"): "dashboards have no tags: by name",
    ("cloudwatch:DeleteDashboards", "Dashboards"): "dashboards have no tags: by name",
    ("ec2:CreateNetworkInterface", "Ec2InstanceConnectEndpointInterfaces"): "the endpoint "
    "creates its interface untagged; the subnet and group it goes in must be the environment's",
    ("ec2:ModifySecurityGroupRules", "AwsManagedPrefixLists"): "the rule names AWS's prefix "
    "list, which has no tags; the group and rule must be the environment's",
    ("ec2:RunInstances", "Ec2Images"): "Amazon's images carry no tags of ours; everything "
    "else of the launch must be the environment's",
    ("iam:CreateServiceLinkedRole", "ServiceLinkedRoles"): "AWS names and tags them; only "
    "the five services'",
    ("logs:CreateLogDelivery", "WriteWithoutResourceLevelPermissions"): "accepts no "
    "resource but `*` (vended log delivery for WAF and flow logs)",
    ("logs:DeleteLogDelivery", "WriteWithoutResourceLevelPermissions"): "accepts no "
    "resource but `*`",
    ("logs:PutResourcePolicy", "WriteWithoutResourceLevelPermissions"): "account-wide "
    "resource policies have no ARN; WAF writes the one for aws-waf-logs-* groups",
    ("sns:Unsubscribe", "WriteWithoutResourceLevelPermissions"): "accepts no resource but `*`",
    ("sns:SetSubscriptionAttributes", "WriteWithoutResourceLevelPermissions"): "accepts no "
    "resource but `*`",
    ("route53:AssociateVPCWithHostedZone", "EndpointPrivateDnsZones"): "the zone is AWS's "
    "(the endpoint service's private DNS), with no tags; the VPC must be the environment's",
    (
        "route53:ChangeResourceRecordSets",
        "RecordSetsOfTheProgramsTypesInTheConfiguredZones",
    ): "Route 53 has no record-level tags: the configured zones and the program's record types",
    ("wafv2:CreateWebACL", "AwsManagedRuleSets"): "AWS's managed rule sets carry no tags; the "
    "web ACL itself must be the environment's",
    ("wafv2:UpdateWebACL", "AwsManagedRuleSets"): "the same, on update",
}


def test_every_write_not_held_to_the_environment_is_justified() -> None:
    context = policies.Context("aws", ACCOUNT_ID, "cdn-alb-backend", "dev", ("Z0123456789ABC",))
    untagged = {
        (action, statement["Sid"])
        for statement in policies.deploy_statements(context)
        if statement["Effect"] == "Allow" and not tag_condition(statement)
        for action in statement["Action"]
        if not policies.is_read_only(action)
    }
    assert untagged == set(UNTAGGED_WRITES)


def test_a_preview_reads_the_origin_secret_only_of_its_own_environment() -> None:
    """The distribution's config holds the X-Origin-Verify value (DescribeRules, which shows it
    too, accepts only `*`: see the README)."""
    for env in ENVIRONMENTS:
        for statement in role_statements(f"preview-{env}"):
            if {"cloudfront:GetDistribution", "cloudfront:GetDistributionConfig"} & set(
                statement["Action"]
            ):
                assert tag_condition(statement) == policies.OWN, statement["Sid"]


def state_statement(role: str, sid: str) -> dict[str, Any]:
    [statement] = [s for s in role_statements(role) if s["Sid"] == sid]
    return statement


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_preview_policy_changes_nothing_outside_its_state(env: str) -> None:
    for statement in role_statements(f"preview-{env}"):
        if statement["Sid"].startswith("State") or statement["Sid"].startswith("StackSecrets"):
            continue
        for action in statement["Action"]:
            assert policies.is_read_only(action), action
            assert privilege(action)["access_level"] in ("Read", "List"), action


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_role_reaches_only_its_environments_stacks_state(env: str) -> None:
    [stack] = ENVIRONMENTS[env][0]
    root = f"{STATE_BUCKET_ARN}/.pulumi"
    deploy = state_statement(f"deploy-{env}", "StateObjectsOfTheEnvironmentsStacks")
    preview = state_statement(f"preview-{env}", "StateObjectsOfTheEnvironmentsStacks")
    assert deploy["Resource"] == [
        f"{root}/{folder}/cdn-alb-backend/{name}{suffix}"
        for name in (stack, f"it-{stack}-*")  # and the integration test's copies
        for folder, suffix in (
            ("stacks", ".json*"), ("history", "/*"), ("backups", "/*"), ("locks", "/*")
        )
    ]  # fmt: skip
    assert deploy["Action"] == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert preview["Resource"] == [f"{root}/stacks/cdn-alb-backend/{stack}.json*"]
    assert preview["Action"] == ["s3:GetObject"]
    for role in (f"deploy-{env}", f"preview-{env}"):
        assert state_statement(role, "StateLayout")["Resource"] == f"{root}/meta.yaml"
        assert state_statement(role, "StateBucketList")["Resource"] == STATE_BUCKET_ARN


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_role_uses_the_bucket_key_only_through_s3_and_its_own_secrets_key(env: str) -> None:
    for kind, secrets_actions, bucket_actions in (
        ("deploy", ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
         ["kms:Decrypt", "kms:GenerateDataKey"]),
        ("preview", ["kms:Decrypt"], ["kms:Decrypt"]),
    ):  # fmt: skip
        role = f"{kind}-{env}"
        bucket_key = state_statement(role, "StateBucketKeyThroughS3")
        secrets = state_statement(role, "StackSecretsKeyOfTheEnvironment")
        assert bucket_key["Resource"] == BUCKET_KEY_ARN
        assert bucket_key["Action"] == bucket_actions
        assert bucket_key["Condition"]["StringEquals"] == {
            "kms:ViaService": f"s3.{REGION}.amazonaws.com"
        }
        assert secrets["Resource"] == key_arn(f"state-{env}-key")
        assert secrets["Action"] == secrets_actions
        kms = {r for s in role_statements(role) if "kms:Decrypt" in s["Action"]
               for r in as_list(s["Resource"])}  # fmt: skip
        assert kms == {BUCKET_KEY_ARN, key_arn(f"state-{env}-key")}


def test_record_changes_only_in_the_configured_zones() -> None:
    def zones(run: Run) -> set[str]:
        statements = [
            s
            for document in policy_documents(run, "deploy-dev")
            for s in document["Statement"]
            if "route53:ChangeResourceRecordSets" in s["Action"]
        ]
        return {r for s in statements for r in as_list(s["Resource"])}

    assert zones(bootstrap()) == set()  # none configured: no record changes at all
    configured = bootstrap(hostedZoneIds='["Z0123456789ABC", "Z9876543210XYZ"]')
    assert zones(configured) == {
        "arn:aws:route53:::hostedzone/Z0123456789ABC",
        "arn:aws:route53:::hostedzone/Z9876543210XYZ",
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_image_parameters_are_what_the_stack_settings_accept(env: str) -> None:
    resources = {
        r
        for s in role_statements(f"deploy-{env}")
        if "ssm:GetParameter" in s["Action"]
        for r in as_list(s["Resource"])
    }
    assert resources == {
        f"arn:aws:ssm:*:{'*' if prefix.startswith('/aws/') else ACCOUNT_ID}:parameter{prefix}*"
        for prefix in stack_settings.IMAGE_PARAMETER_PREFIXES
    }


# ----------------------------------------------------------------------------- parliament
def rendered_policies(run: Run) -> dict[str, dict[str, Any]]:
    """Every permissions policy the bootstrap renders, by where it goes: each role's attached
    policies as one document (so checks that look across statements, such as privilege
    escalation, see all of a role at once; each statement is linted once, in its role), and
    every other resource's `policy` input (the boundary, the bucket and key policies). Trust
    policies have no Resource, which parliament calls MALFORMED: the trust tests above pin them
    instead."""
    roles = [role.name for role in run.of_type("aws:iam/role:Role")]
    rendered = {
        f"{resource.name}.policy": json.loads(resource.inputs["policy"])
        for resource in run.resources
        if isinstance(resource.inputs.get("policy"), str)
        and not any(resource.name.startswith(f"{role}-") for role in roles)
    }
    for role in roles:
        documents = policy_documents(run, role.removeprefix("github-"))
        statements = [s for document in documents for s in document["Statement"]]
        # In Sid order: how the statements are split into policies varies with name lengths.
        statements.sort(key=lambda statement: statement.get("Sid", ""))
        rendered[f"{role} (all attached)"] = policies.document(statements)
    return rendered


def _statement_spans(document: dict[str, Any]) -> list[tuple[int, int, str]]:
    """Where each statement sits in the one-line JSON parliament reads (its columns), by Sid."""
    text, spans, start = json.dumps(document), [], 0
    for statement in document["Statement"]:
        rendered = json.dumps(statement)
        start = text.index(rendered, start)
        spans.append((start, start + len(rendered), statement.get("Sid", "")))
    return spans


def finding_statements(finding: Any, document: dict[str, Any]) -> set[str]:
    """The Sids of the statements a finding is about: the one at its column, or else those
    granting an action the finding names."""
    column = finding.location.get("column") if isinstance(finding.location, dict) else None
    if column is not None:
        return {sid for start, end, sid in _statement_spans(document) if start <= column <= end}
    named = json.dumps([finding.location, finding.detail], default=str).lower()
    granting = [
        statement
        for statement in document["Statement"]
        if any(
            re.search(rf"\b{re.escape(action.lower())}\b", named)
            for action in as_list(statement.get("Action", []))
        )
    ]
    # A finding about a resource (the bucket whose policy may be rewritten) is about the
    # statements on that resource.
    on_resource = [
        statement
        for statement in granting
        if any(resource.lower() in named for resource in as_list(statement.get("Resource", [])))
    ]
    return {statement.get("Sid", "") for statement in on_resource or granting}


# Every finding parliament may still report, by (issue, statement), and why it stays.
PERMISSIONS = "PERMISSIONS_MANAGEMENT_ACTIONS"
KEY_POLICY_STATEMENTS = (
    "AccountAdministersTheKey", "AdministratorsMayUseTheKey", "DeployRole", "PreviewRole",
    "DeployRolesThroughS3", "PreviewRolesThroughS3",
)  # fmt: skip
JUSTIFIED_FINDINGS: dict[tuple[str, str], str] = {
    ("UNKNOWN_CONDITION_FOR_ACTION", "LoadBalancingTagOnCreateTaggedForTheEnvironment"): "AWS "
    "documents elasticloadbalancing:CreateAction for AddTags (tagging resources during "
    "creation); parliament's data lists it only under a duplicate ELB service entry",
    **dict.fromkeys(
        (
            ("PRIVILEGE_ESCALATION", sid)
            for sid in (
                "PassOnlyTheInstanceRoleToEc2OfTheEnvironment",
                "Ec2OfTheEnvironment",
                "Ec2Images",
                "Ec2NewInstanceVolumeNetworkInterfaceTaggedForTheEnvironment",
            )
        ),
        "PassRole + RunInstances is how the Auto Scaling group launches instances: only the "
        "environment's instance role (capped by the boundary), only to EC2, only into the "
        "environment's subnets from its template",
    ),
    ("RESOURCE_POLICY_PRIVILEGE_ESCALATION", "LogBucket"): "the program writes the log bucket's "
    "policy (log delivery writes through it); the role itself reads and writes no log objects",
    (PERMISSIONS, "AlarmTopicsOfTheEnvironment"): "SetTopicAttributes writes the alarm topics' "
    "policy (CloudWatch publishes through it), on the environment's topics only",
    (PERMISSIONS, "AlarmTopicsTaggedForTheEnvironment"): "CreateTopic (may set a policy), "
    "tagged for the environment",
    (PERMISSIONS, "InstanceRoleAndProfileOfTheEnvironment"): "the instance role's own life "
    "cycle and profile; what can change its permissions is in InstanceRoleWithinTheBoundary*",
    (PERMISSIONS, "InstanceRoleAndProfileTaggedForTheEnvironment"): "CreateInstanceProfile, "
    "tagged for the environment",
    (PERMISSIONS, "InstanceRoleWithinTheBoundaryOfTheEnvironment"): "writes the environment's "
    "instance role's policies, only while it has the boundary (which caps them; nothing may "
    "remove or edit it)",
    (PERMISSIONS, "InstanceRoleWithinTheBoundaryTaggedForTheEnvironment"): "CreateRole, only "
    "with the boundary and tagged for the environment",
    (PERMISSIONS, "PassOnlyTheInstanceRoleToEc2OfTheEnvironment"): "PassRole of the "
    "environment's instance role, to EC2 only",
    (PERMISSIONS, "LogBucket"): "the log bucket's policy, public access block and ownership "
    "controls are the program's resources (by name: S3 evaluates no tags)",
    (PERMISSIONS, "ServiceLinkedRoles"): "CreateServiceLinkedRole of the five named services only",
    (PERMISSIONS, "WebAclOfTheEnvironment"): "UpdateWebACL edits the environment's web ACL",
    (PERMISSIONS, "WebAclTaggedForTheEnvironment"): "CreateWebACL, tagged for the environment",
    (PERMISSIONS, "AwsManagedRuleSets"): "Create/UpdateWebACL are also authorized on AWS's "
    "managed rule sets they use, which have no tags",
    (PERMISSIONS, "WriteWithoutResourceLevelPermissions"): "logs:PutResourcePolicy for WAF "
    "logging accepts no resource but `*`",
    **dict.fromkeys(
        (("RESOURCE_STAR", sid) for sid in KEY_POLICY_STATEMENTS),
        "in a key policy `*` is the key the policy is on",
    ),
    (PERMISSIONS, "AccountAdministersTheKey"): "the account's administrators manage the key "
    "(PutKeyPolicy is the break-glass); no CI role may (they are not the account principal)",
    ("CREDENTIALS_EXPOSURE", "RegistryLogin"): "an instance's ECR login token for its image pull "
    "(the boundary's, ECR accepts only `*`)",
}


def _covered_elsewhere(finding: Any, statements: list[dict[str, Any]]) -> bool:
    """A RESOURCE_MISMATCH that is by design: each resource type an action requires is granted
    in its own statement of the role (with its own condition), or is a network load
    balancer's, which the program has none of (IAM lists app and net ARNs as alternatives)."""
    return finding.issue == "RESOURCE_MISMATCH" and all(
        "/net/" in item["required_format"]
        or any(
            item["action"].lower() in (a.lower() for a in as_list(s["Action"]))
            and any(
                granted in (required, (required[0], "*"))
                for required in [resource_type(item["required_format"])]
                for granted in map(resource_type, as_list(s["Resource"]))
            )
            for s in statements
        )
        for item in finding.detail
    )


def resource_type(arn: str) -> tuple[str, str]:
    """An ARN's service and resource type: ("ec2", "subnet"); ("ec2", "*") for any."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return ("", arn)
    return parts[2], re.split(r"[/:]", parts[5], maxsplit=1)[0]


def environment_neutral(document: dict[str, Any]) -> str:
    """A policy's JSON with every environment's name (stack or GitHub environment) replaced by
    one placeholder. The environments' policies come from one template, so their neutral
    texts are equal and parliament lints each shape once; a policy that differs by more than
    its environment's name is linted on its own."""
    names = {name for stacks, github in ENVIRONMENTS.values() for name in (*stacks, github)}
    words = "|".join(sorted(map(re.escape, names), key=len, reverse=True))
    return re.sub(rf"(?<![A-Za-z0-9])(?:{words})(?![A-Za-z0-9])", "ENV", json.dumps(document))


@functools.cache
def parliament_result(neutral_policy: str) -> tuple[bool, list[tuple[str, str, Any]]]:
    """One policy through parliament with its community auditors: whether it is valid (an
    invalid policy stops parliament before its checks) and its findings, one per (issue,
    statement)."""
    document = json.loads(neutral_policy)
    policy = analyze_policy_string(
        neutral_policy, include_community_auditors=True, ignore_private_auditors=True
    )
    findings = [
        (finding.issue, sid, finding.detail)
        for finding in policy.findings
        if not _covered_elsewhere(finding, document["Statement"])
        for sid in sorted(finding_statements(finding, document)) or [""]
    ]
    return policy.is_valid, findings


@functools.cache
def parliament_findings() -> dict[str, tuple[bool, list[tuple[str, str, Any]]]]:
    """Each rendered policy's parliament result, by where it goes."""
    return {
        name: parliament_result(environment_neutral(document))
        for name, document in rendered_policies(bootstrap()).items()
    }


def test_parliament_lints_every_rendered_policy_to_the_end() -> None:
    results = parliament_findings()
    assert {"state-policy.policy", "state-key.policy", "instance-boundary-policy.policy"} <= set(
        results
    )
    assert {f"github-{role} (all attached)" for role in ROLES} <= set(results)
    for name, (valid, findings) in results.items():
        assert valid, (name, findings)
        assert "INVALID_ARN" not in {issue for issue, _, _ in findings}, name


def test_parliament_finds_nothing_unjustified() -> None:
    unjustified = [
        (name, issue, sid, detail)
        for name, (_, findings) in parliament_findings().items()
        for issue, sid, detail in findings
        if (issue, sid) not in JUSTIFIED_FINDINGS
    ]
    assert unjustified == []


def test_every_justification_is_still_needed() -> None:
    found = {(i, s) for _, findings in parliament_findings().values() for i, s, _ in findings}
    assert set(JUSTIFIED_FINDINGS) - found == set()
