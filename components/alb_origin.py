"""What the load-balanced backend hands the CDN front door: one value describing its origin.

How CloudFront reaches the ALB (`OriginAccess`) is decided once, by the backend, and travels
as an `AlbOrigin`: the ALB's DNS name, the header only our distribution sends, and, for an
internal ALB, what a CloudFront VPC origin needs. The front door builds its origin from it
without knowing which mode it is in beyond `vpc_origin` being set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import pulumi


class OriginAccess(StrEnum):
    """How CloudFront reaches the load balancer."""

    PUBLIC_ALB = "publicAlb"  # an internet-facing ALB, as the console walkthrough builds it
    VPC_ORIGIN = "vpcOrigin"  # an internal ALB behind a CloudFront VPC origin


@dataclass(frozen=True)
class OriginHeader:
    """A header CloudFront adds to every request it sends the ALB: the secret the ALB requires
    before it forwards anything."""

    name: str
    value: pulumi.Input[str]  # a secret


@dataclass(frozen=True)
class VpcOriginTarget:
    """An internal ALB, reached through a CloudFront VPC origin instead of the internet."""

    alb_arn: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    # Opens the ALB's security group to a peer group (CloudFront's VPC-origin interfaces),
    # in the backend that owns the group. Takes the peer group id and the rule's options.
    admit: Callable[[pulumi.Input[str], pulumi.ResourceOptions], None]


@dataclass(frozen=True)
class AlbOrigin:
    domain_name: pulumi.Input[str]  # the ALB's DNS name
    header: OriginHeader
    vpc_origin: VpcOriginTarget | None = None  # None: internet-facing, locked by prefix list
