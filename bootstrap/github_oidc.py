"""GithubOidcRoles: GitHub's OIDC identity provider and the roles its workflows assume.

No AWS keys live in GitHub: a workflow exchanges its OIDC token for a role's short-lived
credentials. Each role trusts exact subjects of one repository only: an environment's deploy
role its one GitHub environment (whose protection rules gate it), an environment's preview
role the main branch (the scheduled drift check) and, for the pull-request environment only,
pull requests. The roles are created first, with no permissions; `attach` adds their policies
once what the policies name (the state keys, whose key policies name the roles) exists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

GITHUB_OIDC_ROLES = "cdn-alb-backend-bootstrap:github:GithubOidcRoles"
OIDC_HOST = "token.actions.githubusercontent.com"
OIDC_URL = f"https://{OIDC_HOST}"
AUDIENCE = "sts.amazonaws.com"  # what aws-actions/configure-aws-credentials asks for
PREVIEW_REFS = ("refs/heads/main",)
MAX_SESSION_SECONDS = 3600


def deploy_subjects(repository: str, github_environment: str) -> tuple[str, ...]:
    return (f"repo:{repository}:environment:{github_environment}",)


def preview_subjects(repository: str, *, pull_requests: bool) -> tuple[str, ...]:
    refs = tuple(f"repo:{repository}:ref:{ref}" for ref in PREVIEW_REFS)
    return (f"repo:{repository}:pull_request", *refs) if pull_requests else refs


def trust_policy(provider_arn: str, subjects: Sequence[str]) -> dict[str, Any]:
    """GitHub's tokens for exactly these subjects, issued for STS; StringEquals, no wildcards."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GithubActions",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{OIDC_HOST}:aud": AUDIENCE,
                        f"{OIDC_HOST}:sub": list(subjects),
                    }
                },
            }
        ],
    }


@dataclass(frozen=True)
class RoleSpec:
    key: str  # the logical name: `deploy-dev`
    role_name: str  # the IAM role's name (fixed, so key policies and docs can name it)
    description: str
    subjects: tuple[str, ...]
    max_session_seconds: int = MAX_SESSION_SECONDS


@dataclass(frozen=True)
class GithubOidcRolesArgs:
    create_provider: bool  # False: look up the account's existing provider
    roles: tuple[RoleSpec, ...]


class GithubOidcRoles(pulumi.ComponentResource):
    provider_arn: pulumi.Output[str]
    role_arns: dict[str, pulumi.Output[str]]  # by RoleSpec.key

    def __init__(
        self, name: str, args: GithubOidcRolesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(GITHUB_OIDC_ROLES, name, None, opts)
        self._name = name
        self._roles: dict[str, aws.iam.Role] = {}
        self.provider_arn = self._oidc_provider(args.create_provider)
        for spec in args.roles:
            self._roles[spec.key] = self._github_role(spec)
        self.role_arns = {key: role.arn for key, role in self._roles.items()}
        self.register_outputs({"provider_arn": self.provider_arn, **self.role_arns})

    def _oidc_provider(self, create: bool) -> pulumi.Output[str]:
        """An account has at most one provider per URL, so an existing one is reused."""
        if not create:
            return aws.iam.get_open_id_connect_provider_output(
                url=OIDC_URL, opts=pulumi.InvokeOutputOptions(parent=self)
            ).arn
        return aws.iam.OpenIdConnectProvider(
            f"{self._name}-oidc",
            url=OIDC_URL,
            client_id_lists=[AUDIENCE],
            opts=pulumi.ResourceOptions(parent=self),
        ).arn

    def _github_role(self, spec: RoleSpec) -> aws.iam.Role:
        return aws.iam.Role(
            f"{self._name}-{spec.key}",
            name=spec.role_name,
            description=spec.description,
            assume_role_policy=self.provider_arn.apply(
                lambda arn: json.dumps(trust_policy(arn, spec.subjects))
            ),
            max_session_duration=spec.max_session_seconds,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def attach(self, key: str, documents: Sequence[pulumi.Input[str]]) -> None:
        """Managed policies (JSON documents) for the role `key`, attached in order."""
        child = pulumi.ResourceOptions(parent=self)
        role = self._roles[key]
        for index, document in enumerate(documents, start=1):
            policy = aws.iam.Policy(
                f"{self._name}-{key}-{index}",
                description=f"GitHub Actions {key} role, part {index} of {len(documents)}",
                policy=document,
                opts=child,
            )
            aws.iam.RolePolicyAttachment(
                f"{self._name}-{key}-{index}", role=role.name, policy_arn=policy.arn, opts=child
            )
