"""The bootstrap's wiring: settings first (bad config fails before any resource), then the
state backend, the instance roles' permissions boundary, then GitHub's OIDC provider and the
deploy and preview roles. Its outputs are
exactly the repository variables the workflows read."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from bootstrap import policies
from bootstrap.github_oidc import (
    GithubOidcRoles,
    GithubOidcRolesArgs,
    RoleSpec,
    deploy_subjects,
    preview_subjects,
)
from bootstrap.instance_boundary import InstanceRoleBoundary
from bootstrap.settings import load_settings
from bootstrap.state_backend import StateBackend, StateBackendArgs

# A deploy job may run 60 minutes and the integration workflow's deploy 90: the workflows may
# ask for sessions of up to two hours (configure-aws-credentials' role-duration-seconds).
DEPLOY_SESSION_SECONDS = 2 * 3600


def _state_policy(state: StateBackend, *, writable: bool) -> pulumi.Output[str]:
    return pulumi.Output.all(state.bucket_arn, state.key_arn).apply(
        lambda arns: json.dumps(
            policies.document(policies.state_statements(arns[0], arns[1], writable=writable))
        )
    )


def _documents(statements: list[dict[str, object]]) -> tuple[str, ...]:
    return tuple(json.dumps(document) for document in policies.documents(statements))


def main() -> None:
    settings = load_settings()
    account = aws.get_caller_identity().account_id
    partition = aws.get_partition().partition
    region = aws.get_region().region
    context = policies.Context(partition, account, settings.project_tag)

    state = StateBackend(
        "state",
        StateBackendArgs(
            # Bucket names are global: the account and region make this one unique.
            bucket_name=f"{policies.MAIN_PROJECT}-state-{account}-{region}",
            key_alias=f"alias/{policies.MAIN_PROJECT}-state",
            region=region,
            noncurrent_version_days=settings.state_version_retention_days,
        ),
    )
    boundary = InstanceRoleBoundary("instance-boundary", context)
    repository, project = settings.github_repository, policies.MAIN_PROJECT
    roles = GithubOidcRoles(
        "github",
        GithubOidcRolesArgs(
            create_provider=settings.create_oidc_provider,
            deploy=RoleSpec(
                description=f"GitHub Actions of {repository}: deploy {project} stacks",
                subjects=deploy_subjects(repository),
                policies=(
                    *_documents(policies.deploy_statements(context)),
                    _state_policy(state, writable=True),
                ),
                max_session_seconds=DEPLOY_SESSION_SECONDS,
            ),
            preview=RoleSpec(
                description=f"GitHub Actions of {repository}: preview {project} (read-only)",
                subjects=preview_subjects(repository),
                policies=(
                    *_documents(policies.preview_statements(context)),
                    _state_policy(state, writable=False),
                ),
            ),
        ),
    )

    pulumi.export("AWS_DEPLOY_ROLE_ARN", roles.deploy_role_arn)
    pulumi.export("AWS_PREVIEW_ROLE_ARN", roles.preview_role_arn)
    pulumi.export("AWS_REGION", region)
    pulumi.export("INSTANCE_ROLE_BOUNDARY", boundary.name)
    pulumi.export("PULUMI_BACKEND_URL", state.backend_url)
    pulumi.export("PULUMI_SECRETS_PROVIDER", state.secrets_provider)
