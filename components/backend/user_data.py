"""The instances' user data: cloud-init that installs the backend service and starts it.

The service is a single standard-library Python file (components/backend/app/server.py) run by
Amazon Linux 2023's own python3, so booting needs no package download and no internet access.
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path
from string import Template
from typing import Any

import yaml

APP_DIR = Path(__file__).parent / "app"
SERVER_PATH = "/opt/backend/server.py"
UNIT_PATH = "/etc/systemd/system/backend.service"
USER_DATA_LIMIT = 16 * 1024  # bytes, before base64: the EC2 limit
# Linux lets only CAP_NET_BIND_SERVICE bind below this port (net.ipv4.ip_unprivileged_port_start).
FIRST_UNPRIVILEGED_PORT = 1024


class _LiteralDumper(yaml.SafeDumper):
    """Writes multi-line strings as YAML literal blocks, so the user data reads like the files."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    )


_LiteralDumper.add_representer(str, _represent_text)


def _port_privileges(app_port: int) -> str:
    """The unit's capability lines: none at all, unless the port needs one to be bound."""
    if app_port >= FIRST_UNPRIVILEGED_PORT:
        # A user namespace of its own on top: whatever the service runs as, it holds no
        # capability on the host.
        return "CapabilityBoundingSet=\nAmbientCapabilities=\nPrivateUsers=yes"
    # PrivateUsers= would confine the capability to a user namespace that does not own the host's
    # network, where it no longer lets the service bind a low port.
    return (
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n"
        "AmbientCapabilities=CAP_NET_BIND_SERVICE\n"
        "PrivateUsers=no"
    )


def service_unit(app_port: int, health_check_path: str) -> str:
    """The systemd unit that runs the service, as written to the instance."""
    return Template((APP_DIR / "backend.service").read_text()).substitute(
        port=app_port,
        health_path=health_check_path,
        port_privileges=_port_privileges(app_port),
    )


@functools.cache  # pure, and rendered by every program run
def cloud_config(app_port: int, health_check_path: str) -> str:
    """The cloud-config document, in plain text."""
    unit = service_unit(app_port, health_check_path)
    document: dict[str, Any] = {
        # Nothing to download at boot: the instances may have no route to the internet.
        "package_update": False,
        "package_upgrade": False,
        "repo_upgrade": "none",
        "write_files": [
            {
                "path": SERVER_PATH,
                "owner": "root:root",
                "permissions": "0755",
                "content": (APP_DIR / "server.py").read_text(),
            },
            {"path": UNIT_PATH, "owner": "root:root", "permissions": "0644", "content": unit},
        ],
        "runcmd": [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", "backend.service"],
        ],
    }
    return "#cloud-config\n" + yaml.dump(document, Dumper=_LiteralDumper, sort_keys=False)


def user_data(app_port: int, health_check_path: str) -> str:
    """Base64-encoded cloud-config, as launch templates require."""
    text = cloud_config(app_port, health_check_path).encode()
    if len(text) > USER_DATA_LIMIT:
        raise ValueError(f"user data is {len(text)} bytes; EC2 accepts at most {USER_DATA_LIMIT}")
    return base64.b64encode(text).decode()
