"""Helpers around the integration test, for the Makefile and the integration workflow.

python -m tests.integration check     exit 1, naming each missing prerequisite or bad input
python -m tests.integration cleanup   destroy and remove leftover ephemeral stacks: the one
                                      named in $INTEGRATION_RECORD_FILE, and any older than
                                      6 hours (abandoned by a killed run)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from tests.integration.ephemeral import (
    RECORD_FILE_VAR,
    ConfigCopyError,
    clean_up_leftovers,
    missing_prerequisites,
    plan_from_env,
)


def check() -> int:
    problems = missing_prerequisites(os.environ, require_opt_in=False)
    try:
        plan_from_env(os.environ)
    except ConfigCopyError as error:
        problems.append(str(error))
    for problem in problems:
        print(f"integration: {problem}", file=sys.stderr)
    return 1 if problems else 0


def cleanup() -> int:
    # Imported here: it loads pulumi.automation, which `check` does not need.
    from tests.integration.automation import stack_directory  # noqa: PLC0415

    record_file = os.environ.get(RECORD_FILE_VAR)
    recorded = []
    if record_file and Path(record_file).is_file():
        recorded = Path(record_file).read_text(encoding="utf-8").splitlines()
    all_gone = clean_up_leftovers(stack_directory(), recorded=recorded, now=datetime.now(UTC))
    return 0 if all_gone else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.integration")
    parser.add_argument("command", choices=["check", "cleanup"])
    args = parser.parse_args(argv)
    return check() if args.command == "check" else cleanup()


if __name__ == "__main__":
    sys.exit(main())
