#!/usr/bin/env python3
"""Checks stack files offline with the program's own validation: no AWS account, no Pulumi CLI.

    make check               every Pulumi.<stack>.yaml of the project
    make check STACK=prod    one of them

Each stack's config is loaded the way the Pulumi CLI loads it (Pulumi.yaml's defaults, then the
stack file; tests/harness.py's loader) and stack_settings.load_settings() runs under the test
suite's Pulumi mocks, with answers that need no account: instance types from botocore's EC2
service model (every type that exists; its architecture judged from the family's name), every
zone of the region offering them, and any Route 53 zone existing. What only an account can
tell (whether a region offers a type in enough zones, whether a hosted zone is yours) is for
`make preview`. Every problem is printed, one a line, and the exit status is 1 if any.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Run as a file (`python scripts/check.py`), only scripts/ is on the path: the mocks live in tests/.
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

import botocore.session  # noqa: E402 - after the path, like the project's imports
import yaml  # noqa: E402

from instance_types import architectures_by_name, is_instance_type  # noqa: E402
from stack_settings import SettingsError, load_settings  # noqa: E402
from tests.harness import (  # noqa: E402
    INSTANCE_TYPE_TOKEN,
    OFFERINGS_TOKEN,
    SHIPPED_STACKS,
    ZONE_TOKEN,
    Answer,
    Answers,
    run_pulumi,
    stack_file_config,
    stack_file_path,
    stack_names,
    zone_ids,
)

# Zones (needing no opt-in) of regions whose count is well known; elsewhere the check assumes
# four, the most azCount allows, so it never refuses a count only the region can judge.
ZONE_COUNTS = {"us-east-1": 6, "us-east-2": 3, "us-west-2": 4, "eu-west-1": 3, "eu-central-1": 3}
UNKNOWN_REGION_ZONES = 4


@dataclass(frozen=True)
class Result:
    stack: str
    problems: list[str]

    @property
    def file(self) -> str:
        return f"Pulumi.{self.stack}.yaml"


@functools.cache
def aws_regions() -> list[str]:
    """Every region of every AWS partition that has EC2, from botocore's endpoint data."""
    session = botocore.session.get_session()
    return sorted(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    )


def region_problems(region: str) -> list[str]:
    if not region or region in aws_regions():
        return []  # an unset region is the program's to report
    closest = difflib.get_close_matches(region, aws_regions(), n=1)
    hint = f"did you mean {closest[0]}?" if closest else "e.g. us-east-1"
    return [f"aws:region {region!r} is not an AWS region: {hint}"]


def _instance_type(args: dict[str, Any]) -> Answer:
    instance_type = args["instanceType"]
    if not is_instance_type(instance_type):
        return {}, [("instanceType", f"reading EC2 Instance Type ({instance_type}): empty result")]
    architectures = architectures_by_name(instance_type)
    return {"instanceType": instance_type, "supportedArchitectures": architectures, "id": "it"}


def offline_answers(zone_ids: list[str]) -> Answers:
    def offerings(args: dict[str, Any]) -> Answer:
        [type_filter] = [f for f in args["filters"] if f["name"] == "instance-type"]
        offered = zone_ids if is_instance_type(type_filter["values"][0]) else []
        return {"locationType": args["locationType"], "locations": offered, "id": "offerings"}

    def hosted_zone(args: dict[str, Any]) -> Answer:
        name = str(args.get("name", "")).rstrip(".")
        return {"id": "Z0FFLINE", "zoneId": "Z0FFLINE", "name": f"{name}."}

    return {
        INSTANCE_TYPE_TOKEN: _instance_type,
        OFFERINGS_TOKEN: offerings,
        ZONE_TOKEN: hosted_zone,
    }


def check_stack(stack: str, directory: Path = SHIPPED_STACKS) -> Result:
    path = stack_file_path(stack, directory)
    try:
        config = stack_file_config(path)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        what = getattr(error, "problem", None) or " ".join(str(error).split())
        return Result(stack, [f"not valid YAML{where}: {what}"])
    except (OSError, AttributeError, TypeError) as error:
        return Result(stack, [f"cannot be read as a stack file: {error}"])
    region = config.get("aws:region", "")
    zones = [f"{region}{z}" for z in "abcdef"[: ZONE_COUNTS.get(region, UNKNOWN_REGION_ZONES)]]
    problems = region_problems(region)
    try:
        run_pulumi(
            load_settings,
            config,
            stack=stack,
            zones=zones,
            answers=offline_answers(zone_ids(zones)),
        )
    except SettingsError as error:
        problems += error.problems
    except Exception as error:  # noqa: BLE001 - reported in one line, never as a traceback
        problems.append(f"the check itself failed: {type(error).__name__}: {error}")
    return Result(stack, problems)


def report(results: Sequence[Result]) -> str:
    lines: list[str] = []
    for result in results:
        if not result.problems:
            lines.append(f"{result.file}: ok")
            continue
        count = len(result.problems)
        lines.append(f"{result.file}: {count} problem{'s' if count > 1 else ''}")
        lines += [f"  - {problem}" for problem in result.problems]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, directory: Path = SHIPPED_STACKS) -> int:
    parser = argparse.ArgumentParser(description="Validate stack files offline.")
    parser.add_argument("stacks", nargs="*", help="stack names (default: every stack file)")
    options = parser.parse_args(argv)
    available = stack_names(directory)
    missing = [stack for stack in options.stacks if stack not in available]
    if missing:
        names = ", ".join(available) or "none"
        for stack in missing:
            print(f"check.py: no stack file Pulumi.{stack}.yaml (stack files: {names})")
        return 2
    results = [check_stack(stack, directory) for stack in options.stacks or available]
    print(report(results), end="")
    return 1 if any(result.problems for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
