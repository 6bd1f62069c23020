"""What the instance role may read for the app: exactly its image and its secrets.

A pure function of the app's settings, so its scoping can be tested for every input: each
statement names exact ARNs, and the one action that takes no resource (ECR's token) stands
alone.
"""

from __future__ import annotations

from typing import Any

from components.backend.app_source import AppSource, SecretStore

# Pulling an image: the layers and manifest of one repository, plus the registry token.
ECR_PULL_ACTIONS = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
]
ECR_LOGIN_ACTION = "ecr:GetAuthorizationToken"  # AWS accepts only "*" as its resource


def reads_anything(app: AppSource) -> bool:
    """Whether the instances read anything for the app: a private ECR image, or secrets."""
    return bool(app.secrets) or (app.image is not None and app.image.ecr is not None)


def app_read_policy(app: AppSource, region: str, account_id: str) -> dict[str, Any] | None:
    """The role's policy for the app's image and secrets; None when the app reads neither.

    SecureStrings under the AWS managed key (aws/ssm) need no kms:Decrypt grant; a parameter or
    secret under a customer managed key also needs kms:Decrypt on that key (add it to the key's
    policy for this role).
    """
    statements: list[dict[str, Any]] = []
    ecr = app.image.ecr if app.image else None
    if ecr is not None:
        repository = f"arn:aws:ecr:{ecr['region']}:{ecr['account']}:repository/{ecr['repository']}"
        statements += [
            {"Sid": "PullAppImage", "Effect": "Allow", "Action": ECR_PULL_ACTIONS,
             "Resource": repository},
            {"Sid": "GetRegistryToken", "Effect": "Allow", "Action": ECR_LOGIN_ACTION,
             "Resource": "*"},
        ]  # fmt: skip
    parameters = sorted(
        f"arn:aws:ssm:{region}:{account_id}:parameter/{secret.name.lstrip('/')}"
        for secret in app.secrets
        if secret.store is SecretStore.SSM_PARAMETER
    )
    if parameters:
        statements.append(
            {"Sid": "ReadAppParameters", "Effect": "Allow", "Action": "ssm:GetParameter",
             "Resource": parameters}
        )  # fmt: skip
    secret_arns = sorted(
        secret.name for secret in app.secrets if secret.store is SecretStore.SECRETS_MANAGER
    )
    if secret_arns:
        statements.append(
            {"Sid": "ReadAppSecrets", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
             "Resource": secret_arns}
        )  # fmt: skip
    return {"Version": "2012-10-17", "Statement": statements} if statements else None
