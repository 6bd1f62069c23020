"""The environments the bootstrap makes roles for, read from the main program's stack files.

Each stack file (Pulumi.<stack>.yaml) tags every resource with an `Environment` (its
`aws:defaultTags`). Each environment gets its own deploy role, preview role and secrets key,
which reach only its stacks' state and, where AWS evaluates tags, only resources carrying its
tag. A deploy role is assumable from one GitHub environment only: the tag's name, except for
`prod`, whose GitHub environment is the reviewed `production`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The GitHub environment that guards an environment's deploys, where it is not the same name.
GITHUB_ENVIRONMENTS = {"prod": "production"}
# The one environment pull requests preview (and so may read the state and secrets of).
PULL_REQUEST_ENVIRONMENT = "dev"
# What AWS accepts in a role name, less the prefix the bootstrap puts before it.
ENVIRONMENT_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,19}$")


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


def _environment_tag(path: Path) -> Any:
    config = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("config") or {}
    return ((config.get("aws:defaultTags") or {}).get("tags") or {}).get("Environment")


def read_environments(project_dir: Path = PROJECT_DIR) -> tuple[tuple[Environment, ...], list[str]]:
    """The environments of the stack files in `project_dir`, and what is wrong with them."""
    stacks: dict[str, list[str]] = {}
    problems = []
    for path in sorted(project_dir.glob("Pulumi.*.yaml")):
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        tag = _environment_tag(path)
        if not isinstance(tag, str) or not ENVIRONMENT_PATTERN.fullmatch(tag):
            problems.append(
                f"{path.name}: aws:defaultTags.tags.Environment {tag!r} is missing or invalid: "
                "use 1-20 lower-case letters, digits and hyphens, starting with a letter"
            )
            continue
        stacks.setdefault(tag, []).append(stack)
    if not stacks and not problems:
        problems.append(f"no stack files (Pulumi.<stack>.yaml) in {project_dir}")
    environments = tuple(Environment(tag, tuple(names)) for tag, names in sorted(stacks.items()))
    return environments, problems
