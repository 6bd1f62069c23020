"""The environments the bootstrap makes roles for, read from the main program's stack files.

Each stack file (Pulumi.<stack>.yaml) tags every resource with a `Project` and an `Environment`
(its `aws:defaultTags`). Each environment gets its own deploy role, preview role and secrets
key, which reach only its stacks' state and, where AWS evaluates tags, only resources carrying
both tags. So the stack files are where both tags come from: one `Project` for all of them.
A deploy role is assumable from one GitHub environment only: the tag's name, except for `prod`,
whose GitHub environment is the reviewed `production`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Where the stack files are: the main program's directory.
STACK_FILES_DIR = Path(__file__).resolve().parent.parent
# The GitHub environment that guards an environment's deploys, where it is not the same name.
GITHUB_ENVIRONMENTS = {"prod": "production"}
# The one environment pull requests preview (and so may read the state and secrets of).
PULL_REQUEST_ENVIRONMENT = "dev"
# What AWS accepts in a role name, less the prefix the bootstrap puts before it.
ENVIRONMENT_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
# What AWS accepts in a tag value.
TAG_VALUE_PATTERN = re.compile(r"^[\w .:/=+\-@]{1,256}$")


@dataclass(frozen=True)
class Environment:
    name: str  # the stacks' `Environment` tag
    stacks: tuple[str, ...]  # the stack files that carry it

    @property
    def github_environment(self) -> str:
        return GITHUB_ENVIRONMENTS.get(self.name, self.name)

    @property
    def variable_suffix(self) -> str:
        """What the repository variables of this environment end with: `_DEV`."""
        return "_" + self.name.upper().replace("-", "_")


@dataclass(frozen=True)
class StackFiles:
    environments: tuple[Environment, ...]
    project_tag: str  # the `Project` tag all of them put on their resources
    problems: tuple[str, ...]


def _tags(path: Path) -> dict[str, Any]:
    config = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}
    return (config.get("aws:defaultTags") or {}).get("tags") or {}


# Each tag the roles reach resources by: what it must look like, and how to say so.
TAG_RULES = {
    "Environment": (
        ENVIRONMENT_PATTERN,
        "use 1-20 lower-case letters, digits and hyphens, starting with a letter",
    ),
    "Project": (TAG_VALUE_PATTERN, "use 1-256 letters, digits, spaces and . : / = + - @ _"),
}


def read_stack_files(directory: Path | None = None) -> StackFiles:
    """The environments and the project tag of the stack files in `directory` (the main
    program's unless told), and what is wrong with them."""
    directory = directory or STACK_FILES_DIR
    stacks: dict[str, list[str]] = {}
    projects: dict[str, list[str]] = {}
    problems = []
    for path in sorted(directory.glob("Pulumi.*.yaml")):
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        tags, valid = _tags(path), {}
        for key, (pattern, rule) in TAG_RULES.items():
            value = tags.get(key)
            if isinstance(value, str) and pattern.fullmatch(value):
                valid[key] = value
            else:
                problems.append(
                    f"{path.name}: aws:defaultTags.tags.{key} {value!r} is missing or invalid: "
                    f"{rule}"
                )
        if "Environment" in valid:
            stacks.setdefault(valid["Environment"], []).append(stack)
        if "Project" in valid:
            projects.setdefault(valid["Project"], []).append(path.name)
    if len(projects) > 1:
        tagged = "; ".join(
            f"{', '.join(files)}: {tag!r}" for tag, files in sorted(projects.items())
        )
        problems.append(
            f"the stack files tag different projects ({tagged}): the roles reach the resources "
            "of one Project tag, so use one value in every aws:defaultTags.tags.Project"
        )
    if not stacks and not problems:
        problems.append(f"no stack files (Pulumi.<stack>.yaml) in {directory}")
    return StackFiles(
        environments=tuple(Environment(tag, tuple(names)) for tag, names in sorted(stacks.items())),
        project_tag=next(iter(projects)) if len(projects) == 1 else "",
        problems=tuple(problems),
    )
