"""The bootstrap's wiring: settings first (bad config fails before any resource), then the
instance roles' permissions boundary, GitHub's OIDC provider and the roles of each environment
(no permissions yet), the state backend (whose key policies name the roles), and last the
roles' policies. Its outputs are exactly the repository variables the workflows read."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from bootstrap import policies
from bootstrap.environments import PULL_REQUEST_ENVIRONMENT, Environment
from bootstrap.github_oidc import (
    GithubOidcRoles,
    GithubOidcRolesArgs,
    RoleSpec,
    deploy_subjects,
    preview_subjects,
)
from bootstrap.instance_boundary import InstanceRoleBoundary
from bootstrap.settings import BootstrapSettings, load_settings
from bootstrap.state_backend import StateBackend, StateBackendArgs

# A deploy job may run 60 minutes and the integration workflow's deploy 90: the workflows may
# ask for sessions of up to two hours (configure-aws-credentials' role-duration-seconds).
DEPLOY_SESSION_SECONDS = 2 * 3600


def _documents(statements: list[dict[str, object]]) -> tuple[str, ...]:
    return tuple(json.dumps(document) for document in policies.documents(statements))


def _role_specs(settings: BootstrapSettings, environment: Environment) -> tuple[RoleSpec, ...]:
    repository, project, name = settings.github_repository, policies.MAIN_PROJECT, environment.name
    return (
        RoleSpec(
            key=f"deploy-{name}",
            role_name=policies.ci_role_name("deploy", name),
            description=f"GitHub Actions of {repository}: deploy {project} {name} stacks",
            subjects=deploy_subjects(repository, environment.github_environment),
            max_session_seconds=DEPLOY_SESSION_SECONDS,
        ),
        RoleSpec(
            key=f"preview-{name}",
            role_name=policies.ci_role_name("preview", name),
            description=f"GitHub Actions of {repository}: preview {project} {name} (read-only)",
            subjects=preview_subjects(repository, pull_requests=name == PULL_REQUEST_ENVIRONMENT),
        ),
    )


def _key_policies(
    context: policies.Context, roles: GithubOidcRoles, bucket_arn: str, region: str
) -> tuple[pulumi.Output[str], dict[str, pulumi.Output[str]]]:
    """The bucket key's policy (every CI role, only through S3 for this bucket) and each
    environment's secrets key policy (that environment's two roles only)."""
    arns = roles.role_arns

    def bucket_key(resolved: dict[str, str]) -> str:
        access = policies.StateAccess(bucket_arn, "", "", region)
        through_s3 = policies.through_s3(access)
        deployers = [arn for key, arn in resolved.items() if key.startswith("deploy-")]
        previewers = [arn for key, arn in resolved.items() if key.startswith("preview-")]
        return json.dumps(
            policies.key_policy(
                context,
                [
                    policies.key_use(
                        "DeployRolesThroughS3",
                        deployers,
                        ["kms:Decrypt", "kms:GenerateDataKey"],
                        through_s3,
                    ),
                    policies.key_use(
                        "PreviewRolesThroughS3", previewers, ["kms:Decrypt"], through_s3
                    ),
                ],
            )
        )

    def secrets_key(deployer: str, previewer: str) -> str:
        return json.dumps(
            policies.key_policy(
                context,
                [
                    policies.key_use(
                        "DeployRole",
                        [deployer],
                        ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                    ),
                    policies.key_use("PreviewRole", [previewer], ["kms:Decrypt"]),
                ],
            )
        )

    environments = sorted({key.split("-", 1)[1] for key in arns})
    return pulumi.Output.all(**arns).apply(bucket_key), {
        name: pulumi.Output.all(arns[f"deploy-{name}"], arns[f"preview-{name}"]).apply(
            lambda both: secrets_key(*both)
        )
        for name in environments
    }


def _state_policy(
    state: StateBackend, environment: Environment, region: str, *, writable: bool
) -> pulumi.Output[str]:
    return pulumi.Output.all(
        state.bucket_arn, state.key_arn, state.secrets_key_arns[environment.name]
    ).apply(
        lambda arns: json.dumps(
            policies.document(
                policies.state_statements(
                    policies.StateAccess(arns[0], arns[1], arns[2], region),
                    environment.stacks,
                    writable=writable,
                )
            )
        )
    )


def main() -> None:
    settings = load_settings()
    account = aws.get_caller_identity().account_id
    partition = aws.get_partition().partition
    region = aws.get_region().region

    def context(environment: Environment) -> policies.Context:
        return policies.Context(
            partition, account, settings.project_tag, environment.name, settings.hosted_zone_ids
        )

    account_context = policies.Context(partition, account, settings.project_tag)
    boundary = InstanceRoleBoundary("instance-boundary", account_context)
    roles = GithubOidcRoles(
        "github",
        GithubOidcRolesArgs(
            create_provider=settings.create_oidc_provider,
            roles=tuple(
                spec for env in settings.environments for spec in _role_specs(settings, env)
            ),
        ),
    )
    # Bucket names are global: the account and region make this one unique.
    bucket_name = f"{policies.MAIN_PROJECT}-state-{account}-{region}"
    bucket_key_policy, secrets_key_policies = _key_policies(
        account_context, roles, f"arn:{partition}:s3:::{bucket_name}", region
    )
    state = StateBackend(
        "state",
        StateBackendArgs(
            bucket_name=bucket_name,
            key_alias=f"alias/{policies.MAIN_PROJECT}-state",
            region=region,
            noncurrent_version_days=settings.state_version_retention_days,
            bucket_key_policy=bucket_key_policy,
            secrets_keys={
                env: (f"alias/{policies.MAIN_PROJECT}-{env}", policy)
                for env, policy in secrets_key_policies.items()
            },
        ),
    )
    for env in settings.environments:
        roles.attach(
            f"deploy-{env.name}",
            (
                *_documents(policies.deploy_statements(context(env))),
                _state_policy(state, env, region, writable=True),
            ),
        )
        roles.attach(
            f"preview-{env.name}",
            (
                *_documents(policies.preview_statements(context(env))),
                _state_policy(state, env, region, writable=False),
            ),
        )

    for env in settings.environments:
        suffix = env.variable_suffix
        pulumi.export(f"AWS_DEPLOY_ROLE_ARN{suffix}", roles.role_arns[f"deploy-{env.name}"])
        pulumi.export(f"AWS_PREVIEW_ROLE_ARN{suffix}", roles.role_arns[f"preview-{env.name}"])
        pulumi.export(f"PULUMI_SECRETS_PROVIDER{suffix}", state.secrets_providers[env.name])
    pulumi.export("AWS_REGION", region)
    pulumi.export("INSTANCE_ROLE_BOUNDARY", boundary.name)
    pulumi.export("PULUMI_BACKEND_URL", state.backend_url)
