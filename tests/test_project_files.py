"""Pulumi.yaml, the stack files, the settings module and the README agree on every config key."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pulumi
import pytest
import yaml

from scripts import config_table
from stack_settings import load_settings
from tests.conftest import STACKS
from tests.harness import (
    PROJECT,
    PROJECT_DIR,
    PROJECT_NAME,
    SHIPPED_STACKS,
    TEST_STACKS,
    run_pulumi,
    stack_config,
    stack_file_path,
    stack_names,
)

# Pulumi's JSON schema of Pulumi.yaml (from the pulumi/pulumi repository).
SCHEMA = json.loads((Path(__file__).parent / "data" / "pulumi-project.schema.json").read_text())
DECLARED = PROJECT["config"]


def test_project_file_matches_pulumis_schema() -> None:
    jsonschema.validate(PROJECT, SCHEMA)


def test_runtime_is_python_with_pip_in_a_local_virtualenv() -> None:
    assert PROJECT["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": "venv"},
    }


SCALARS = {"string": str, "integer": int, "boolean": bool}


def has_declared_type(declaration: dict[str, Any], value: Any) -> bool:
    """Whether a value has the type Pulumi.yaml declares (scalars, or arrays of scalars)."""
    if declaration["type"] == "array":
        item_type = SCALARS[declaration["items"]["type"]]
        return isinstance(value, list) and all(type(item) is item_type for item in value)
    return type(value) is SCALARS[declaration["type"]]


@pytest.mark.parametrize("key", sorted(DECLARED))
def test_every_key_is_declared_with_type_description_and_default(key: str) -> None:
    declaration = DECLARED[key]

    assert declaration["type"] in (*SCALARS, "array")
    assert declaration["description"].strip()
    assert "default" in declaration
    assert has_declared_type(declaration, declaration["default"])


def own_keys(config: dict[str, Any]) -> dict[str, Any]:
    """A stack file's keys of this project, by short name."""
    prefix = f"{PROJECT_NAME}:"
    return {
        key.removeprefix(prefix): value for key, value in config.items() if key.startswith(prefix)
    }


# The shipped stack files are the team's: only what holds of any valid stack file is checked
# here (declared keys of the declared types; tests/test_check.py: the program accepts them; the
# README's tables: generated from them). The tests' expectations use tests/stacks/.
@pytest.mark.parametrize("stack", stack_names(SHIPPED_STACKS))
def test_shipped_stack_files_set_only_declared_keys_with_declared_types(stack: str) -> None:
    config = yaml.safe_load(stack_file_path(stack, SHIPPED_STACKS).read_text())["config"]

    own = own_keys(config)
    assert set(own) <= set(DECLARED), set(own) - set(DECLARED)
    for key, value in own.items():
        assert has_declared_type(DECLARED[key], value), key
    assert "aws:region" in config


@pytest.mark.parametrize("stack", STACKS)
def test_test_stack_files_set_declared_keys_and_the_provider_keys_the_program_reads(
    stack: str,
) -> None:
    config = yaml.safe_load(stack_file_path(stack, TEST_STACKS).read_text())["config"]

    own = own_keys(config)
    assert set(own) <= set(DECLARED), set(own) - set(DECLARED)
    for key, value in own.items():
        assert has_declared_type(DECLARED[key], value), key
    assert set(config) - {f"{PROJECT_NAME}:{key}" for key in own} == {
        "aws:region",
        "aws:defaultTags",
    }


def test_the_tests_run_each_of_their_stack_files() -> None:
    assert stack_names(TEST_STACKS) == sorted(STACKS)


def test_settings_read_exactly_the_declared_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    read: set[str] = set()
    original_get = pulumi.Config.get

    def recording_get(self: pulumi.Config, key: str, default: Any = None) -> Any:
        if self.name == PROJECT_NAME:
            read.add(key)
        return original_get(self, key, default)

    monkeypatch.setattr(pulumi.Config, "get", recording_get)
    run_pulumi(load_settings, stack_config("dev"))

    assert read == set(DECLARED)


def test_readme_config_table_is_the_one_pulumi_yaml_renders() -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    table = readme.split(config_table.START, 1)[1].split(config_table.END, 1)[0]

    assert table.strip() == config_table.render().strip(), (
        "README's configuration table is out of date: run `make docs`"
    )
    for key, declaration in DECLARED.items():
        assert f"| `{key}` | {declaration['type']}" in table
        assert declaration["description"] in table


# Where the README's backticked names live when it gives them without their folder.
README_NAME_FOLDERS = {
    r"test_\w+\.py|transitions\.py": "tests",
    r"[\w-]+\.yml": ".github/workflows",
    r"[\w-]+\.service": "components/backend/app",
}
REPOSITORY_FOLDERS = (
    "components/",
    "tests/",
    "scripts/",
    "bootstrap/",
    "policy/",
    ".github/",
    ".ci/",
)


def test_every_file_the_readme_names_exists() -> None:
    names = set(re.findall(r"`([\w./-]+)`", (PROJECT_DIR / "README.md").read_text()))
    missing = []
    for name in sorted(names):
        if name.startswith(REPOSITORY_FOLDERS):
            path = PROJECT_DIR / name
        else:
            folder = next(
                (f for p, f in README_NAME_FOLDERS.items() if re.fullmatch(p, name)), None
            )
            if folder is None:
                continue
            path = PROJECT_DIR / folder / name
        if not path.exists():
            missing.append(name)
    assert missing == []
