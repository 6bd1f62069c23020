"""The harness's stack interface on Pulumi's Automation API (the `pulumi` CLI does the work).

The rest of the harness never imports Pulumi, so `python -m tests.integration check` and a
skipped run start without loading the SDK.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pulumi import automation as auto

from tests.integration.ephemeral import (
    PROJECT_DIR,
    Output,
    StackLockedError,
    UpReport,
    count_resources,
)


@contextmanager
def _lock_as_stack_locked() -> Iterator[None]:
    try:
        yield
    except auto.ConcurrentUpdateError as error:
        raise StackLockedError(str(error)) from error


@dataclass
class AutomationStack:
    stack: auto.Stack

    @property
    def name(self) -> str:
        return self.stack.name

    def up(self, on_output: Output) -> UpReport:
        result = self.stack.up(on_output=on_output, on_error=on_output)
        changes = result.summary.resource_changes or {}
        return UpReport(
            resource_changes={
                getattr(op, "value", str(op)): count for op, count in changes.items()
            },
            outputs={key: output.value for key, output in result.outputs.items()},
        )

    def resource_count(self) -> int:
        deployment = self.stack.export_stack().deployment or {}
        return count_resources(deployment.get("resources") or [])

    def destroy(self, on_output: Output) -> None:
        with _lock_as_stack_locked():
            self.stack.destroy(on_output=on_output, on_error=on_output)

    def cancel(self) -> None:
        self.stack.cancel()

    def remove(self) -> None:
        # `pulumi stack rm` also deletes the stack's settings file, Pulumi.<stack>.yaml.
        self.stack.workspace.remove_stack(self.stack.name)


def create_stack(stack_name: str) -> AutomationStack:
    """A new stack of this project; the program is the checkout's __main__.py and venv/, its
    config the Pulumi.<stack>.yaml the harness wrote, which `pulumi stack init` reads and keeps.
    Its secrets go to PULUMI_SECRETS_PROVIDER (the environment's KMS key, in CI) when that is
    set, as `make up` does, else to the backend's default (a passphrase for a self-managed one);
    `stack init` adds that provider's keys to the file and keeps the rest, as every CLI but
    3.135.0 does (pulumi/pulumi#17457)."""
    provider = os.environ.get("PULUMI_SECRETS_PROVIDER") or None
    return AutomationStack(
        auto.create_stack(
            stack_name,
            work_dir=str(PROJECT_DIR),
            opts=auto.LocalWorkspaceOptions(secrets_provider=provider),
        )
    )


@dataclass
class AutomationStackDirectory:
    workspace: auto.LocalWorkspace

    def stack_names(self) -> list[str]:
        return [summary.name for summary in self.workspace.list_stacks()]

    def select(self, stack_name: str) -> AutomationStack:
        return AutomationStack(auto.Stack.select(stack_name, self.workspace))


def stack_directory() -> AutomationStackDirectory:
    return AutomationStackDirectory(auto.LocalWorkspace(work_dir=str(PROJECT_DIR)))
