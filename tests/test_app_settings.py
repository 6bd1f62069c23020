"""Your own API: the app's keys, how they combine, and the network path each one needs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.backend.app_source import (
    AppSource,
    ContainerImage,
    SecretReference,
    SecretStore,
)
from stack_settings import SettingsError, StackSettings, load_settings
from tests.harness import run_main_failing, run_pulumi, stack_config, with_overrides

ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/orders-api:1.4.2"
DIGEST = "sha256:" + "ab" * 32
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/api-key-AbCdEf"
ENDPOINTS = ["ecr.api", "ecr.dkr", "ssm", "secretsmanager"]


def config(**overrides: Any) -> dict[str, str]:
    """Dev's stack on an instance type with room for Docker (appImage needs 1 GiB)."""
    return with_overrides(stack_config("dev"), {"instanceType": "t4g.micro", **overrides})


def load(**overrides: Any) -> StackSettings:
    loaded: list[StackSettings] = []
    run_pulumi(lambda: loaded.append(load_settings()), config(**overrides))
    return loaded[0]


def problems(**overrides: Any) -> list[str]:
    error, run = run_main_failing(config(**overrides))
    assert isinstance(error, SettingsError), error
    assert run.resources == []
    return error.problems


def test_the_built_in_service_is_the_default() -> None:
    settings = load()

    assert settings.backend.app == AppSource()
    assert settings.backend.app.builtin
    assert settings.backend.rollout_checkpoints == ()
    assert settings.backend.instance_connect is True
    assert settings.network.interface_endpoints == ()
    assert settings.operations.service_unit == "backend"


def test_a_private_ecr_image_with_its_environment_secrets_and_endpoints() -> None:
    settings = load(
        appImage=ECR_IMAGE,
        appEnvironment=["LOG_LEVEL=info", "GREETING=a=b c"],
        appSecrets=["DB_PASSWORD=ssm:/orders/db-password", f"API_KEY={SECRET_ARN}"],
        vpcEndpoints=ENDPOINTS,
        rolloutCheckpoints=[25, 100],
    )

    assert settings.backend.app == AppSource(
        image=ContainerImage(ECR_IMAGE),
        environment={"LOG_LEVEL": "info", "GREETING": "a=b c"},
        secrets=(
            SecretReference("DB_PASSWORD", SecretStore.SSM_PARAMETER, "/orders/db-password"),
            SecretReference("API_KEY", SecretStore.SECRETS_MANAGER, SECRET_ARN),
        ),
    )
    assert settings.network.interface_endpoints == tuple(ENDPOINTS)
    assert settings.backend.rollout_checkpoints == (25, 100)
    assert settings.operations.service_unit == "app"


@pytest.mark.parametrize(
    "image",
    [ECR_IMAGE, f"123456789012.dkr.ecr.us-east-1.amazonaws.com/team/orders@{DIGEST}"],
)
def test_image_references_pinned_by_tag_or_digest_are_accepted(image: str) -> None:
    app = load(appImage=image, vpcEndpoints=["ecr.api", "ecr.dkr"]).backend.app

    assert app.image == ContainerImage(image)


def test_public_images_need_a_nat_gateway() -> None:
    app = load(appImage="public.ecr.aws/nginx/nginx:1.27", natGateways="single").backend.app

    assert app.image == ContainerImage("public.ecr.aws/nginx/nginx:1.27")


def test_a_machine_image_by_ssm_parameter() -> None:
    app = load(machineImage="resolve:ssm:/cdn-alb-backend/orders/ami").backend.app

    assert app.machine_image == "resolve:ssm:/cdn-alb-backend/orders/ami"
    assert app.image is None


BAD_APPS: list[tuple[dict[str, Any], str]] = [
    ({"appImage": "Orders API"}, "appImage 'Orders API' is not an image reference"),
    ({"appImage": "nginx"}, "appImage 'nginx' is not pinned: name a version tag (not latest)"),
    ({"appImage": "nginx:latest"}, "appImage 'nginx:latest' is not pinned"),
    ({"machineImage": "ami-xyz"}, "machineImage 'ami-xyz' is invalid: use an AMI id"),
    ({"machineImage": "resolve:ssm:"}, "machineImage 'resolve:ssm:' is invalid"),
    (
        {"appImage": ECR_IMAGE, "machineImage": "ami-0123456789abcdef0", "vpcEndpoints": ENDPOINTS},
        "appImage and machineImage are both set",
    ),
    ({"userDataFile": "deploy/user-data.yaml"}, "userDataFile 'deploy/user-data.yaml' needs "),
    (
        {"machineImage": "ami-0123456789abcdef0", "userDataFile": "../etc/passwd"},
        "userDataFile '../etc/passwd' is not a file of this repository",
    ),
    ({"appEnvironment": ["LOG_LEVEL=info"]}, "appEnvironment and appSecrets are for your app"),
    (
        {"machineImage": "ami-0123456789abcdef0", "appEnvironment": ["log_level=info"]},
        "appEnvironment entry 'log_level=info' is invalid: use NAME=value",
    ),
    (
        {"machineImage": "ami-0123456789abcdef0", "appEnvironment": ["A=1", "A=2"]},
        "appEnvironment variable A is repeated",
    ),
    (
        {"machineImage": "ami-0123456789abcdef0", "appEnvironment": ["PORT=9000"]},
        "appEnvironment variable PORT is set by the program",
    ),
    (
        {"machineImage": "ami-0123456789abcdef0", "appEnvironment": ["A=one\ntwo"]},
        "appEnvironment variable A has a line break",
    ),
    (
        {"machineImage": "ami-0123456789abcdef0", "appSecrets": ["KEY=vault:/x"],
         "natGateways": "single"},
        "appSecrets KEY='vault:/x' is invalid",
    ),
    (
        {"machineImage": "ami-0123456789abcdef0", "natGateways": "single",
         "appSecrets": ["KEY=arn:aws:secretsmanager:us-east-1:123456789012:secret:orders"]},
        "appSecrets KEY='arn:aws:secretsmanager:us-east-1:123456789012:secret:orders' is invalid",
    ),
    ({"vpcEndpoints": ["ecr.api", "ec2"]}, "vpcEndpoints ['ecr.api', 'ec2'] is invalid"),
    ({"vpcEndpoints": ["ssm", "ssm"]}, "vpcEndpoints ['ssm', 'ssm'] is invalid"),
    ({"vpcEndpoints": "ssm"}, "vpcEndpoints 'ssm' is not a list"),
    ({"rolloutCheckpoints": [25, 50]}, "rolloutCheckpoints [25, 50] is invalid"),
    ({"rolloutCheckpoints": [50, 25, 100]}, "rolloutCheckpoints [50, 25, 100] is invalid"),
    ({"rolloutCheckpoints": ["half"]}, "rolloutCheckpoints ['half'] must list whole numbers"),
    # No path to what the app needs with natGateways none:
    (
        {"appImage": ECR_IMAGE},
        f"appImage {ECR_IMAGE!r} is pulled from private ECR, and natGateways none leaves no "
        "path to it: add ecr.api, ecr.dkr to vpcEndpoints",
    ),
    (
        {"appImage": ECR_IMAGE, "vpcEndpoints": ["ecr.api"]},
        "add ecr.dkr to vpcEndpoints",
    ),
    (
        {"appImage": "ghcr.io/acme/orders:1.4.2"},
        "appImage 'ghcr.io/acme/orders:1.4.2' comes from a registry on the internet",
    ),
    (
        {"appImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders:1", "vpcEndpoints":
         ["ecr.api", "ecr.dkr"]},
        "is in ECR in eu-west-1, which the stack's endpoints in us-east-1 cannot reach",
    ),
    (
        {"machineImage": "ami-0123456789abcdef0", "appSecrets": ["KEY=ssm:/orders/key"]},
        "appSecrets from ssm need a path to it with natGateways none: add ssm to vpcEndpoints",
    ),
    (
        {"machineImage": "ami-0123456789abcdef0", "appSecrets": [f"KEY={SECRET_ARN}"],
         "vpcEndpoints": ["ssm"]},
        "appSecrets from secretsmanager need a path to it with natGateways none",
    ),
    (
        {"appImage": ECR_IMAGE, "vpcEndpoints": ENDPOINTS, "instanceType": "t4g.nano"},
        "appImage needs an instance type with at least 1 GiB of memory; instanceType "
        "'t4g.nano' has 512 MiB: use t4g.micro or larger",
    ),
    (
        {"machineImage": "ami-0123456789abcdef0", "vpcEndpoints": ENDPOINTS, "appSecrets":
         ["KEY=arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders/key-AbCdEf"]},
        "appSecrets KEY is in eu-west-1, but the stack's secretsmanager endpoint answers for "
        "us-east-1 only, so with natGateways none the fetch never ends",
    ),
    (
        {"machineImage": "resolve:ssm:/orders/ami"},
        "machineImage 'resolve:ssm:/orders/ami': the deploy role reads image parameters under "
        "/aws/service/ or /cdn-alb-backend/ only: store yours as "
        "resolve:ssm:/cdn-alb-backend/orders/ami",
    ),
    (
        {"machineImage": "ami-0f0e0d0c0b0a09876"},
        "machineImage 'ami-0f0e0d0c0b0a09876' is an x86_64 image, but instanceType 't4g.micro' "
        "runs arm64",
    ),
    (
        {"machineImage": "ami-0badbadbadbadbad0"},
        "machineImage 'ami-0badbadbadbadbad0' is not an image this account can launch in "
        "us-east-1",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "message"), BAD_APPS, ids=[json.dumps(case[0]) for case in BAD_APPS]
)
def test_bad_app_settings_are_refused_before_any_resource(
    overrides: dict[str, Any], message: str
) -> None:
    found = problems(**overrides)

    assert any(message in problem for problem in found), found
    assert len(found) == 1, found


def test_user_data_file_cannot_silently_drop_the_apps_environment() -> None:
    found = problems(
        machineImage="ami-0123456789abcdef0",
        userDataFile="Pulumi.dev.yaml",  # any file of the repository
        appEnvironment=["LOG_LEVEL=info"],
    )

    assert found == [
        "userDataFile 'Pulumi.dev.yaml' is used as it is, so appEnvironment and appSecrets "
        "would be dropped: set them in that file, or remove userDataFile"
    ]


def test_user_data_over_the_ec2_limit_is_refused() -> None:
    many = [f"VARIABLE_{index:04d}={'x' * 60}" for index in range(300)]
    found = problems(appImage=ECR_IMAGE, vpcEndpoints=["ecr.api", "ecr.dkr"], appEnvironment=many)

    assert len(found) == 1
    assert found[0].startswith("the instances' user data would be ")
    assert "bytes, and EC2 takes at most 16384" in found[0]
