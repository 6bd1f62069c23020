"""The instance role's reads for the app, for every app the settings accept (property tests):
exact ARNs only, and `*` for nothing but ECR's registry token."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from components.backend.app_access import ECR_LOGIN_ACTION, app_read_policy, reads_anything
from components.backend.app_source import (
    AppSource,
    ContainerImage,
    SecretReference,
    SecretStore,
)

REGION = "eu-west-1"
ACCOUNT = "210987654321"
LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
WORD = st.text(LOWER, min_size=1, max_size=12)
VARIABLE = st.builds(
    str.__add__, st.sampled_from(UPPER), st.text(UPPER + "0123456789", max_size=15)
)
ECR_IMAGES = st.builds(
    lambda account, region, path, tag: ContainerImage(
        f"{account}.dkr.ecr.{region}.amazonaws.com/{'/'.join(path)}:{tag}"
    ),
    st.text("0123456789", min_size=12, max_size=12),
    st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-2"]),
    st.lists(WORD, min_size=1, max_size=3),
    st.text(LOWER + UPPER, min_size=1, max_size=20),
)
PUBLIC_IMAGES = st.builds(lambda name: ContainerImage(f"ghcr.io/acme/{name}:1.0"), WORD)
PARAMETERS = st.builds(
    lambda variable, path: SecretReference(
        variable, SecretStore.SSM_PARAMETER, "/" + "/".join(path)
    ),
    VARIABLE,
    st.lists(WORD, min_size=1, max_size=4),
)
SECRETS = st.builds(
    lambda variable, name, suffix: SecretReference(
        variable,
        SecretStore.SECRETS_MANAGER,
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-{suffix}",
    ),
    VARIABLE,
    WORD,
    st.text(LOWER + UPPER.rstrip("_"), min_size=6, max_size=6),
)
APPS = st.builds(
    lambda image, secrets: AppSource(image=image, secrets=tuple(secrets)),
    st.none() | ECR_IMAGES | PUBLIC_IMAGES,
    st.lists(PARAMETERS | SECRETS, max_size=5, unique_by=lambda secret: secret.variable),
)


def statements(app: AppSource) -> list[dict]:
    policy = app_read_policy(app, REGION, ACCOUNT)
    return [] if policy is None else policy["Statement"]


def resources(statement: dict) -> list[str]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


@settings(max_examples=60, deadline=None, database=None)
@given(APPS)
def test_only_the_registry_token_takes_any_resource(app: AppSource) -> None:
    for statement in statements(app):
        assert statement["Effect"] == "Allow"
        assert "*" not in str(statement["Action"])
        if "*" in resources(statement):
            assert statement["Action"] == ECR_LOGIN_ACTION
            assert resources(statement) == ["*"]


@settings(max_examples=60, deadline=None, database=None)
@given(APPS)
def test_every_resource_is_exactly_the_apps_image_or_one_of_its_secrets(app: AppSource) -> None:
    allowed = {
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{secret.name}"
        if secret.store is SecretStore.SSM_PARAMETER
        else secret.name
        for secret in app.secrets
    }
    ecr = app.image.ecr if app.image else None
    if ecr is not None:
        allowed.add(f"arn:aws:ecr:{ecr['region']}:{ecr['account']}:repository/{ecr['repository']}")
    granted = {arn for statement in statements(app) for arn in resources(statement)} - {"*"}

    assert granted == allowed
    assert all(not re.search(r"[*?]", arn) for arn in granted)  # no wildcard in any ARN


@settings(max_examples=30, deadline=None, database=None)
@given(APPS)
def test_an_app_that_reads_nothing_gets_no_policy(app: AppSource) -> None:
    reads_something = bool(app.secrets) or (app.image is not None and app.image.ecr is not None)

    assert (app_read_policy(app, REGION, ACCOUNT) is not None) is reads_something
    assert reads_anything(app) is reads_something
