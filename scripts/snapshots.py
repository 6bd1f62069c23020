#!/usr/bin/env python3
"""The resource graph each test stack file (tests/stacks/) registers, as a reviewed snapshot.

Runs the program under the test suite's mocks (no AWS, no Pulumi CLI) and writes, per stack
file, every resource it registers: type, logical name, parent, the inputs AWS would receive
(secrets masked, user data decoded, JSON policies parsed so a diff reads line by line), the
resources it waits for, and ignored properties. Committed under tests/snapshots/, they put
every change of the program's infrastructure in a pull request's diff (of the tests' own stack
files, so a team's edits to the shipped Pulumi.<stack>.yaml change no snapshot);
tests/test_snapshots.py fails on any difference and names the command that refreshes them:

    make snapshots          # python scripts/snapshots.py --write
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
SNAPSHOT_DIR = PROJECT_DIR / "tests" / "snapshots"
STACKS = ("dev", "prod", "staging")
MASK = "[secret]"
# Inputs that hold a JSON document as a string: shown parsed.
JSON_INPUTS = frozenset({"policy", "assumeRolePolicy", "dashboardBody"})
GENERATED_SECRET_TYPE = "random:index/randomPassword:RandomPassword"  # noqa: S105 - a type name

sys.path.insert(0, str(PROJECT_DIR))

from tests.harness import Resource, Run, is_secret, run_stack  # noqa: E402


def _readable(key: str, value: Any, secrets: frozenset[str]) -> Any:
    """A recorded input as a reviewer reads it: secret envelopes opened with every generated
    secret masked, user data as lines of text, JSON documents parsed."""
    if is_secret(value):
        value = value["value"]
    if isinstance(value, dict):
        return {k: _readable(k, v, secrets) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_readable(key, item, secrets) for item in value]
    if not isinstance(value, str):
        return value
    if value in secrets:
        return MASK
    if key == "userData":
        return base64.b64decode(value).decode().splitlines()
    return _parsed(value) if key in JSON_INPUTS else value


def _parsed(document: str) -> Any:
    try:
        return json.loads(document)
    except ValueError:
        return document


def _generated_secrets(run: Run) -> frozenset[str]:
    """Values Pulumi generates and keeps secret (the origin secret): never in a snapshot."""
    return frozenset(
        str(r.outputs["result"])
        for r in run.resources
        if r.type == GENERATED_SECRET_TYPE and r.outputs
    )


def _label(resource: Resource) -> str:
    return f"{resource.type}::{resource.name}"


def graph(run: Run) -> list[dict[str, Any]]:
    """The run's resources in a stable order, each as plain data."""
    labels = {resource.urn: _label(resource) for resource in run.resources}
    secrets = _generated_secrets(run)
    nodes = [
        {
            "resource": _label(resource),
            "parent": labels.get(resource.parent_urn, "stack"),
            "inputs": _readable("", resource.inputs, secrets),
            "dependsOn": sorted(labels[urn] for urn in resource.dependencies if urn in labels),
            **({"ignoreChanges": list(resource.ignore_changes)} if resource.ignore_changes else {}),
            **({"aliases": list(resource.aliases)} if resource.aliases else {}),
        }
        for resource in run.resources
    ]
    return sorted(nodes, key=lambda node: node["resource"])


def render(stack: str) -> str:
    return json.dumps(graph(run_stack(stack)), indent=1, ensure_ascii=False) + "\n"


def snapshot_path(stack: str) -> Path:
    return SNAPSHOT_DIR / f"{stack}.json"


def main() -> None:
    parser = argparse.ArgumentParser(description="Write or print the stacks' resource graphs.")
    parser.add_argument("--write", action="store_true", help="update tests/snapshots/")
    parser.add_argument("stacks", nargs="*", default=list(STACKS))
    options = parser.parse_args()
    for stack in options.stacks:
        text = render(stack)
        if options.write:
            SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
            snapshot_path(stack).write_text(text)
            print(f"wrote {snapshot_path(stack).relative_to(PROJECT_DIR)}")
        else:
            print(text, end="")


if __name__ == "__main__":
    main()
