"""GithubOidcRoles: GitHub's OIDC identity provider and the two roles its workflows assume.

No AWS keys live in GitHub: a workflow exchanges its OIDC token for a role's short-lived
credentials. Each role trusts only exact subjects of one repository: the deploy role its
`dev` and `production` environments (whose protection rules gate it), the preview role its
pull requests and its main branch (the scheduled drift check).
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
DEPLOY_ENVIRONMENTS = ("dev", "production")
PREVIEW_REFS = ("refs/heads/main",)
MAX_SESSION_SECONDS = 3600


def deploy_subjects(repository: str) -> tuple[str, ...]:
    return tuple(f"repo:{repository}:environment:{env}" for env in DEPLOY_ENVIRONMENTS)


def preview_subjects(repository: str) -> tuple[str, ...]:
    refs = (f"repo:{repository}:ref:{ref}" for ref in PREVIEW_REFS)
    return (f"repo:{repository}:pull_request", *refs)


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
    description: str
    subjects: tuple[str, ...]
    policies: tuple[pulumi.Input[str], ...]  # managed policy documents (JSON), attached in order
    max_session_seconds: int = MAX_SESSION_SECONDS


@dataclass(frozen=True)
class GithubOidcRolesArgs:
    create_provider: bool  # False: look up the account's existing provider
    deploy: RoleSpec
    preview: RoleSpec


class GithubOidcRoles(pulumi.ComponentResource):
    provider_arn: pulumi.Output[str]
    deploy_role_arn: pulumi.Output[str]
    preview_role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: GithubOidcRolesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(GITHUB_OIDC_ROLES, name, None, opts)
        self._name = name
        self.provider_arn = self._oidc_provider(args.create_provider)
        self.deploy_role_arn = self._github_role("deploy", args.deploy)
        self.preview_role_arn = self._github_role("preview", args.preview)
        self.register_outputs(
            {
                "provider_arn": self.provider_arn,
                "deploy_role_arn": self.deploy_role_arn,
                "preview_role_arn": self.preview_role_arn,
            }
        )

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

    def _github_role(self, kind: str, spec: RoleSpec) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{self._name}-{kind}",
            description=spec.description,
            assume_role_policy=self.provider_arn.apply(
                lambda arn: json.dumps(trust_policy(arn, spec.subjects))
            ),
            max_session_duration=spec.max_session_seconds,
            opts=child,
        )
        for index, document in enumerate(spec.policies, start=1):
            policy = aws.iam.Policy(
                f"{self._name}-{kind}-{index}",
                description=f"GitHub Actions {kind} role, part {index} of {len(spec.policies)}",
                policy=document,
                opts=child,
            )
            aws.iam.RolePolicyAttachment(
                f"{self._name}-{kind}-{index}", role=role.name, policy_arn=policy.arn, opts=child
            )
        return role.arn
