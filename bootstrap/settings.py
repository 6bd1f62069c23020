"""The bootstrap's settings: read from Pulumi config once, validated before any resource exists.

Defaults live in bootstrap/Pulumi.yaml only. Every problem is collected and reported in one
`BootstrapSettingsError`, like the main program's stack_settings.SettingsError.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pulumi

from bootstrap.environments import Environment, read_stack_files

MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 3650
# GitHub's rules: an owner has 1-39 letters, digits and single inner hyphens; a repository name
# has 1-100 letters, digits, `.`, `_` and `-`, and is not `.` or `..`.
OWNER = r"(?=[A-Za-z0-9-]{1,39}/)[A-Za-z0-9](?:-?[A-Za-z0-9])*"
NAME = r"(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}"
REPOSITORY_PATTERN = re.compile(rf"^{OWNER}/{NAME}$")
# A Route 53 hosted zone id, as the console and `aws route53 list-hosted-zones` show it.
HOSTED_ZONE_PATTERN = re.compile(r"^Z[A-Z0-9]{1,31}$")


@dataclass(frozen=True)
class BootstrapSettings:
    github_repository: str  # owner/name: whose workflows may assume the roles
    create_oidc_provider: bool  # False: the account already has GitHub's provider
    state_version_retention_days: int  # days a replaced state file version is kept
    project_tag: str  # the `Project` tag of every stack's resources (from the stack files)
    hosted_zone_ids: tuple[str, ...]  # the only zones the deploy roles may change records in
    environments: tuple[Environment, ...]  # from the stack files: a set of roles for each


class BootstrapSettingsError(pulumi.RunError):
    """Bad bootstrap configuration. A RunError, so Pulumi prints it without a traceback."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"Invalid bootstrap configuration ({len(problems)} problem(s)):\n{lines}")


def repository_problem(value: str) -> str | None:
    """What is wrong with a `githubRepository` value, or None."""
    if not value:
        return "githubRepository '' is not set: set it to the repository as owner/name"
    if REPOSITORY_PATTERN.fullmatch(value) and not value.endswith(".git"):
        return None
    return (
        f"githubRepository {value!r} is invalid: use owner/name as GitHub spells it, e.g. "
        "octo-org/cdn-alb-backend (no URL, no .git, no trailing slash)"
    )


def _retention_problem(value: str) -> str | None:
    if re.fullmatch(r"[0-9]+", value) and MIN_RETENTION_DAYS <= int(value) <= MAX_RETENTION_DAYS:
        return None
    return (
        f"stateVersionRetentionDays {value!r} is invalid: use a whole number of days from "
        f"{MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS}"
    )


def _boolean_problem(key: str, value: str) -> str | None:
    if value in ("true", "True", "false", "False"):  # what pulumi.Config.get_bool accepts
        return None
    return f"{key} {value!r} is not a boolean: use true or false"


def _hosted_zones(value: str) -> tuple[tuple[str, ...], str | None]:
    try:
        zones = json.loads(value)
    except json.JSONDecodeError:
        zones = None
    if isinstance(zones, list) and all(
        isinstance(zone, str) and HOSTED_ZONE_PATTERN.fullmatch(zone) for zone in zones
    ):
        return tuple(zones), None
    return (), (
        f"hostedZoneIds {value!r} is invalid: use a list of Route 53 hosted zone ids "
        '(e.g. ["Z0123456789ABCDEFGHIJ"]), or [] for none'
    )


def load_settings() -> BootstrapSettings:
    config = pulumi.Config()
    raw = {
        key: config.get(key) or ""
        for key in (
            "githubRepository",
            "createOidcProvider",
            "stateVersionRetentionDays",
            "hostedZoneIds",
        )
    }
    hosted_zone_ids, zones_problem = _hosted_zones(raw["hostedZoneIds"] or "[]")
    stack_files = read_stack_files()
    problems = [
        problem
        for problem in (
            repository_problem(raw["githubRepository"]),
            _boolean_problem("createOidcProvider", raw["createOidcProvider"]),
            _retention_problem(raw["stateVersionRetentionDays"]),
            zones_problem,
            *stack_files.problems,
        )
        if problem
    ]
    if problems:
        raise BootstrapSettingsError(problems)
    return BootstrapSettings(
        github_repository=raw["githubRepository"],
        create_oidc_provider=raw["createOidcProvider"] in ("true", "True"),
        state_version_retention_days=int(raw["stateVersionRetentionDays"]),
        project_tag=stack_files.project_tag,
        hosted_zone_ids=hosted_zone_ids,
        environments=stack_files.environments,
    )
