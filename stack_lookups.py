"""The questions stack_settings.py asks AWS while it validates a stack: read-only lookups
(invokes, not resources) and the checks that rest on their answers.

Which zones the region has and which of them offer the instance type (and so which zones the
stack uses), the type's CPU architecture and memory, a literal machine image's architecture and
root device, and the custom domain's hosted zone. Each check appends a problem naming the key,
the value and what to do; stack_settings.py reports them all together before any resource.
"""

from __future__ import annotations

import pulumi_aws as aws

from components.alb_origin import OriginAccess
from components.backend import SUPPORTED_ARCHITECTURES, BackendSettings
from components.backend.app_source import image_parameter
from components.network import AvailabilityZone, has_zone_slot
from instance_types import is_instance_type, nearest_instance_type

# Zone ids (the same physical zone in every account, unlike zone names) where CloudFront
# documents VPC origins as unavailable ("Supported AWS Regions for VPC origins" in the CloudFront
# Developer Guide). An internal ALB with a subnet there cannot become a VPC origin.
VPC_ORIGIN_UNAVAILABLE_ZONE_IDS = frozenset({"use1-az3", "usw1-az2", "apne1-az3"})
MIN_CONTAINER_MEMORY_MIB = 1024  # Docker's install and daemon beside the app


def usable_availability_zones() -> list[AvailabilityZone]:
    """The region's zones that are up and need no opt-in (Local/Wavelength zones do), by id."""
    zones = aws.get_availability_zones(
        state="available",
        filters=[
            aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])
        ],
    )
    return sorted(
        (
            AvailabilityZone(name, id_)
            for name, id_ in zip(zones.names, zones.zone_ids, strict=True)
        ),
        key=lambda zone: (zone.number, zone.id) if has_zone_slot(zone.id) else (0, zone.id),
    )


def zone_ids_offering(instance_type: str) -> set[str]:
    """The zone ids where EC2 offers an instance type: not every zone offers every type."""
    offerings = aws.ec2.get_instance_type_offerings(
        location_type="availability-zone-id",
        filters=[
            aws.ec2.GetInstanceTypeOfferingsFilterArgs(name="instance-type", values=[instance_type])
        ],
    )
    return set(offerings.locations)


def instance_architectures(instance_type: str) -> list[str]:
    """The CPU architectures EC2 reports for an instance type (raises if the region has no such
    type). Decides which Amazon Linux image, arm64 or x86_64, the instances boot."""
    return list(aws.ec2.get_instance_type(instance_type=instance_type).supported_architectures)


def _describe(zones: list[AvailabilityZone]) -> str:
    return ", ".join(f"{zone.name} ({zone.id})" for zone in zones) or "none"


def choose_zones(
    region: str,
    az_count: int,
    *,
    pinned: list[str],
    instance_type: str | None,
    origin_access: OriginAccess,
    problems: list[str],
) -> list[AvailabilityZone]:
    """The stack's zones: those named in availabilityZones, in that order, or else the first
    `az_count` zones by zone id that can run the stack.

    A zone qualifies when it offers the instance type (the Auto Scaling group fails on a zone
    that does not) and, for a VPC origin, when CloudFront supports VPC origins there. Pinned
    zones are checked, never replaced: the automatic choice follows what AWS offers today, so a
    stack that must never move names its zones. `instance_type` None: the type is invalid, so
    only the zones themselves are checked.
    """
    zones = usable_availability_zones()
    if pinned:
        candidates = _pinned_zones(region, az_count, pinned, zones, problems)
    elif az_count > len(zones):
        problems.append(
            f"azCount ({az_count}) is more than the {len(zones)} zones {region} offers "
            f"({', '.join(zone.name for zone in zones)})"
        )
        return zones
    else:
        candidates = zones
    if instance_type is None or not candidates:
        return candidates[:az_count]
    offered = zone_ids_offering(instance_type)
    qualifying = [zone for zone in zones if zone.id in offered]
    needs = f"offer instanceType {instance_type!r}"
    if origin_access is OriginAccess.VPC_ORIGIN:
        qualifying = [z for z in qualifying if z.id not in VPC_ORIGIN_UNAVAILABLE_ZONE_IDS]
        needs += " and support CloudFront VPC origins (originAccess vpcOrigin)"
    if pinned:
        if unfit := [zone for zone in candidates if zone not in qualifying]:
            problems.append(
                f"availabilityZones {pinned} names {_describe(unfit)}, which do not {needs}; "
                f"zones of {region} that do: {_describe(qualifying)}. Name those, or choose "
                "another instanceType"
            )
        return candidates
    if len(qualifying) < az_count:
        problems.append(
            f"azCount ({az_count}) needs {az_count} zones that {needs}; {region} has "
            f"{len(qualifying)}: {_describe(qualifying)}. Lower azCount or choose another "
            "instanceType"
        )
    return qualifying[:az_count]


def _pinned_zones(
    region: str,
    az_count: int,
    pinned: list[str],
    zones: list[AvailabilityZone],
    problems: list[str],
) -> list[AvailabilityZone]:
    """The zones availabilityZones names, or [] with a problem for each way the list is wrong."""
    by_id = {zone.id: zone for zone in zones}
    if unknown := [zone_id for zone_id in pinned if zone_id not in by_id]:
        what = "is not a zone id" if len(unknown) == 1 else "are not zone ids"
        problems.append(
            f"availabilityZones {pinned}: {', '.join(unknown)} {what} of {region} "
            f"that needs no opt-in; its zones are {_describe(zones)}"
        )
        return []
    if len(set(pinned)) != len(pinned):
        problems.append(f"availabilityZones {pinned} names a zone twice")
        return []
    if len(pinned) != az_count:
        problems.append(
            f"availabilityZones names {len(pinned)} zones but azCount is {az_count}: set "
            f"azCount to {len(pinned)}"
        )
    return [by_id[zone_id] for zone_id in pinned]


def instance_memory_mib(instance_type: str) -> int:
    """The memory EC2 reports for an instance type, in MiB."""
    return int(aws.ec2.get_instance_type(instance_type=instance_type).memory_size)


def container_memory_problems(backend: BackendSettings) -> list[str]:
    """Docker on Amazon Linux needs about 1 GiB: on less, `dnf install docker` is killed for
    memory, the instance never serves, and the group replaces it in a loop."""
    if backend.app.image is None:
        return []
    memory = instance_memory_mib(backend.instance_type)
    if memory >= MIN_CONTAINER_MEMORY_MIB:
        return []
    family = backend.instance_type.split(".", maxsplit=1)[0]
    return [
        f"appImage needs an instance type with at least 1 GiB of memory; instanceType "
        f"{backend.instance_type!r} has {memory} MiB: use {family}.micro or larger"
    ]


def architecture(region: str, instance_type: str, problems: list[str]) -> str:
    # A type EC2 does not have anywhere (botocore's EC2 model lists them all, offline) is a
    # typo to name, not a question for the region. (This import belongs with the module's.)

    if not is_instance_type(instance_type):
        nearest = nearest_instance_type(instance_type)
        hint = f"did you mean {nearest}?" if nearest else "see `aws ec2 describe-instance-types`"
        problems.append(f"instanceType {instance_type!r} is not an EC2 instance type: {hint}")
        return ""
    try:
        architectures = instance_architectures(instance_type)
    except Exception as error:  # noqa: BLE001 - the SDK raises a bare Exception
        reason = (str(error).strip() or type(error).__name__).splitlines()[0]
        problems.append(
            f"instanceType {instance_type!r} is not offered in {region} (EC2 says: {reason})"
        )
        return ""
    supported = [arch for arch in SUPPORTED_ARCHITECTURES if arch in architectures]
    if not supported:
        problems.append(
            f"instanceType {instance_type!r} runs {', '.join(architectures)}; use an arm64 "
            "(Graviton, e.g. t4g.micro) or x86_64 (e.g. t3.micro) instance type"
        )
        return ""
    return supported[0]


def hosted_zone_id(domain_name: str, hosted_zone_name: str, problems: list[str]) -> str:
    """The id of the public Route 53 zone that will hold the domain's records, or a problem."""
    try:
        return aws.route53.get_zone(name=hosted_zone_name, private_zone=False).zone_id
    except Exception:  # noqa: BLE001 - the SDK raises a bare Exception
        problems.append(
            f"hostedZoneName {hosted_zone_name!r} (for domainName {domain_name!r}) is not a "
            "public Route 53 hosted zone of this account: create the zone, set hostedZoneName "
            "to the zone that holds the domain, or remove domainName to serve on the "
            "distribution's *.cloudfront.net name"
        )
        return ""


def machine_image_facts(image_id: str) -> tuple[str, str]:
    """A literal AMI's CPU architecture and root device name, as EC2 describes the image."""
    image = aws.ec2.get_ami(
        filters=[aws.ec2.GetAmiFilterArgs(name="image-id", values=[image_id])],
        include_deprecated=True,
    )
    return image.architecture, image.root_device_name


def machine_image_root_device(backend: BackendSettings, problems: list[str]) -> str:
    """A literal machineImage's root device, once it is known to exist and fit the type."""
    image_id = backend.app.machine_image
    if not image_id or image_parameter(image_id) is not None:
        return ""
    try:
        architecture, root_device = machine_image_facts(image_id)
    except Exception:  # noqa: BLE001 - the SDK raises a bare Exception
        problems.append(
            f"machineImage {image_id!r} is not an image this account can launch in "
            f"{backend.region}: copy or share it to the region, or name another"
        )
        return ""
    if architecture != backend.architecture:
        problems.append(
            f"machineImage {image_id!r} is an {architecture} image, but instanceType "
            f"{backend.instance_type!r} runs {backend.architecture}: build the image for "
            f"{backend.architecture}, or choose an {architecture} instance type"
        )
    return root_device
