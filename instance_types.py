"""The EC2 instance types that exist, offline: botocore's EC2 service model lists every one.

stack_settings.py refuses a type EC2 does not have at all (a typo such as `t4g.nanoo`) before
asking the region about it, naming the nearest real type; scripts/check.py also answers the
architecture of a type from its name, where no AWS account can be asked.

botocore's list grows with its releases (requirements.txt pins it compatibly, so an upgrade
brings the newest types).
"""

from __future__ import annotations

import difflib
import functools
import re

import botocore.session

# The generation digits of a family, then its attribute letters: `g` there is Graviton (t4g,
# m7gd, c6gn, im4gn, is4gen, p6e-gb200), as in AWS's naming conventions for instance types.
_FAMILY = re.compile(r"[a-z-]*?\d+(?P<attributes>.*)")
ARM_FAMILIES_WITHOUT_G = frozenset({"a1"})  # the first Graviton family


@functools.cache  # the model is read once per process (about a quarter of a second)
def ec2_instance_types() -> frozenset[str]:
    model = botocore.session.get_session().get_service_model("ec2")
    return frozenset(model.shape_for("InstanceType").enum or [])


def is_instance_type(instance_type: str) -> bool:
    return instance_type in ec2_instance_types()


def nearest_instance_type(instance_type: str) -> str | None:
    """The real instance type closest in spelling, if any is close."""
    matches = difflib.get_close_matches(instance_type, sorted(ec2_instance_types()), n=1)
    return matches[0] if matches else None


def architectures_by_name(instance_type: str) -> list[str]:
    """The architectures EC2 would report, judged from the family's name: Mac families run
    macOS (x86_64_mac for mac1, arm64_mac for the rest), families with `g` among their
    attributes are Graviton (arm64), and the rest are x86_64."""
    family = instance_type.split(".", 1)[0]
    if family.startswith("mac"):
        return ["x86_64_mac"] if family == "mac1" else ["arm64_mac"]
    match = _FAMILY.fullmatch(family)
    if family in ARM_FAMILIES_WITHOUT_G or (match and "g" in match["attributes"]):
        return ["arm64"]
    return ["x86_64"]
