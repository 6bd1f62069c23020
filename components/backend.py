"""LoadBalancedBackend: the ALB, its target group and the Auto Scaling group behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# CPU architectures with an Amazon Linux 2023 image, in order of preference.
SUPPORTED_ARCHITECTURES = ("arm64", "x86_64")


@dataclass(frozen=True)
class BackendSettings:
    instance_type: str
    architecture: str  # one of SUPPORTED_ARCHITECTURES, as EC2 reports it for instance_type
    min_size: int
    max_size: int
    desired_capacity: int
    app_port: int
    health_check_path: str
    deletion_protection: bool
    instance_tags: Mapping[str, str]  # the stack's default tags, copied onto instances/volumes
