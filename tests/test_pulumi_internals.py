"""The assumptions tests/pulumi_internals.py makes about the SDK, checked one by one, so an
upgrade of `pulumi` that breaks one says which."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from pathlib import Path

import pulumi
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime.proto import source_pb2

from tests import pulumi_internals
from tests.harness import PROJECT_DIR, is_secret, run_pulumi


def test_secret_envelope_uses_the_sdks_signature_keys() -> None:
    assert pulumi_internals.SECRET_SIG == "4dabf18193072939515e22adb298388d"
    assert pulumi_internals.SECRET_VALUE_SIG == "1b47061264138c4ac30d75fd1eb44270"


def test_mock_monitor_records_registrations_by_urn() -> None:
    monitor = pulumi_internals.MockMonitor
    assert callable(monitor.RegisterResource)
    assert "resources" in inspect.getsource(monitor.__init__)


def test_runs_start_from_a_fresh_root_stack_with_its_exports() -> None:
    def program() -> None:
        pulumi.export("answer", pulumi.Output.secret("42"))

    first = run_pulumi(program, {})
    second = run_pulumi(lambda: None, {})

    assert first.exports == {"answer": "42"}
    assert second.exports == {}


def test_secret_inputs_arrive_as_envelopes() -> None:
    def program() -> None:
        pulumi.CustomResource("test:index:Thing", "thing", {"value": pulumi.Output.secret("x")})

    [thing] = run_pulumi(program, {}).resources

    assert is_secret(thing.inputs["value"])


def test_requirements_pin_the_minor_release_the_shim_is_tested_with() -> None:
    requirements = (PROJECT_DIR / "requirements.txt").read_text()
    major, minor = version("pulumi").split(".")[:2]
    pinned = next(line for line in requirements.splitlines() if line.startswith("pulumi~="))

    assert pinned == f"pulumi~={major}.{minor}.0", pinned
    assert Path(pulumi_internals.__file__).name == "pulumi_internals.py"


def test_registrations_skip_the_stack_trace_the_mocks_never_read() -> None:
    assert runtime_resource._get_stack_trace() == source_pb2.StackTrace()
    assert "_get_stack_trace()" in inspect.getsource(runtime_resource.register_resource)
