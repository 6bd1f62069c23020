"""CdnFrontDoor: the CloudFront distribution in front of the load balancer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PriceClass(StrEnum):
    """Which CloudFront edge locations serve viewers (fewer is cheaper)."""

    NORTH_AMERICA_EUROPE = "PriceClass_100"
    MOST_REGIONS = "PriceClass_200"
    ALL = "PriceClass_All"


@dataclass(frozen=True)
class FrontDoorSettings:
    price_class: PriceClass
    waf_enabled: bool
