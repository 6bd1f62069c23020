"""The Makefile's own behaviour, with a stand-in `pulumi` on PATH that logs its calls: stacks
exist on purpose (a STACK without a stack file is refused before any Pulumi command), and the
offline goals take every stack file or the one given."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.harness import PROJECT_DIR, stack_names

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

FAKE_PULUMI = """#!/bin/sh
echo "$*" >> "$FAKE_PULUMI_LOG"
"""
# Variables of a parent make (under `make test`) or of the caller that would change the goals.
DROPPED = frozenset({"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "STACK"})


def make(
    tmp_path: Path, *args: str, fake: str = FAKE_PULUMI
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Runs make in the project with a stand-in pulumi; returns its result and pulumi's calls."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    script = tmp_path / "bin" / "pulumi"
    script.write_text(fake, encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "pulumi.log"
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    env |= {"PATH": f"{tmp_path / 'bin'}{os.pathsep}{env['PATH']}", "FAKE_PULUMI_LOG": str(log)}
    executable = shutil.which("make")
    assert executable is not None
    # The goals are this repository's; `-o venv/.installed` never rebuilds the virtualenv.
    result = subprocess.run(  # noqa: S603
        [executable, "--no-print-directory", "-o", "venv/.installed", *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return result, calls


@pytest.mark.parametrize("goal", ["up", "preview", "destroy"])
def test_a_stack_without_a_stack_file_is_refused_naming_the_stack_files(
    tmp_path: Path, goal: str
) -> None:
    result, calls = make(tmp_path, goal, "STACK=prdo")

    assert result.returncode != 0
    assert result.stdout.splitlines()[0] == (
        f"There is no stack file Pulumi.prdo.yaml. The stack files: {' '.join(stack_names())}."
    )
    assert "no stack file for STACK=prdo.  Stop." in result.stderr
    assert calls == []  # no `pulumi stack select --create prdo`


def test_a_stack_with_a_stack_file_is_selected_and_run(tmp_path: Path) -> None:
    result, _ = make(tmp_path, "-n", "preview", "STACK=staging")

    assert result.returncode == 0, result.stderr
    assert "pulumi stack select --create staging" in result.stdout
    assert "pulumi preview --stack staging" in result.stdout


@pytest.mark.parametrize(
    ("args", "command"),
    [
        ((), "venv/bin/python scripts/check.py"),
        (("STACK=prod",), "venv/bin/python scripts/check.py prod"),
    ],
)
def test_check_takes_every_stack_file_or_the_one_given(
    tmp_path: Path, args: tuple[str, ...], command: str
) -> None:
    result, _ = make(tmp_path, "-n", "check", *args)

    assert result.returncode == 0, result.stderr
    assert [line.rstrip() for line in result.stdout.splitlines()] == [command]


def test_help_lists_every_goal(tmp_path: Path) -> None:
    makefile = (PROJECT_DIR / "Makefile").read_text(encoding="utf-8")
    [phony] = re.findall(r"^\.PHONY: (.+)$", makefile, flags=re.MULTILINE)
    result, _ = make(tmp_path, "help")
    listed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("make ")]

    assert sorted(listed) == sorted(phony.split())


WHOAMI_FAILS = """#!/bin/sh
echo "$*" >> "$FAKE_PULUMI_LOG"
[ "$1" != whoami ]
"""


def test_without_a_backend_the_pulumi_goals_say_how_to_log_in(tmp_path: Path) -> None:
    """No guessed backend: `make up` and the README's plain `pulumi` commands use the same one."""
    result, calls = make(tmp_path, "up", "STACK=dev", fake=WHOAMI_FAILS)

    assert result.returncode != 0
    assert "  mkdir -p .pulumi-state && pulumi login file://" in result.stderr
    assert calls == ["whoami"]  # nothing selected or created


def test_the_makefile_sets_no_backend_of_its_own() -> None:
    makefile = (PROJECT_DIR / "Makefile").read_text(encoding="utf-8")

    assert "PULUMI_BACKEND_URL=" not in makefile
