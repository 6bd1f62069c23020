"""Every private part of the Pulumi Python SDK the test harness relies on, in one place.

The SDK's public mocks (`pulumi.runtime.set_mocks`, `Mocks`) record no parents, providers,
dependencies or aliases, and offer no fresh root stack per run. The harness needs all of those,
so it reaches into the SDK here and nowhere else. requirements.txt pins `pulumi` to the minor
release this module is tested with (tests/test_pulumi_internals.py); on an upgrade, that test
says which assumption broke.
"""

from __future__ import annotations

from typing import Any

from pulumi.runtime import mocks, rpc
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.proto import source_pb2

# How a secret travels on the wire: {SECRET_SIG: SECRET_VALUE_SIG, "value": ...}.
SECRET_SIG: str = rpc._special_sig_key
SECRET_VALUE_SIG: str = rpc._special_secret_sig

# The SDK's mock monitor. The harness overrides its gRPC method RegisterResource to record each
# request, and reads `resources[urn]` (state and id) after calling the original.
MockMonitor = mocks.MockMonitor


def deserialize_properties(properties: Any) -> dict[str, Any]:
    """A registration's inputs (a protobuf Struct) as plain Python, secrets as envelopes."""
    return rpc.deserialize_properties(properties)


def reset_root_stack() -> None:
    """Forget the previous run's root stack, so each run starts with no exports."""
    runtime_settings.ROOT.set(None)


def root_stack_outputs() -> dict[str, Any]:
    """The outputs `pulumi.export` set on the current run's root stack."""
    return dict(getattr(runtime_settings.get_root_resource(), "outputs", {}))


def skip_source_positions() -> None:
    """Stop recording each registration's Python stack trace (for source positions in the
    engine's diagnostics). The mocks have no use for it, and reading every frame's source line
    takes almost half of a program run."""
    runtime_resource._get_stack_trace = source_pb2.StackTrace
