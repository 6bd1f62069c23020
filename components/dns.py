"""A custom domain for the distribution: its certificate, and the DNS records pointing at it.

CloudFront accepts only certificates issued in us-east-1, whatever the stack's region; the
certificate gets there through pulumi-aws v7's per-resource `region` argument, so the stack's
one provider (credentials, profile, default tags) serves here too. Both components expect the
domain's hosted zone in Route 53; see the README for a zone hosted elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import component_types

CERTIFICATE_REGION = "us-east-1"
VALIDATION_RECORD_TTL = 60
LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
FQDN_PATTERN = re.compile(rf"^(?:{LABEL}\.)+{LABEL}$")
MAX_FQDN_LENGTH = 253


def is_fqdn(name: str) -> bool:
    """A lower-case fully qualified domain name of two or more labels, without the final dot."""
    return len(name) <= MAX_FQDN_LENGTH and bool(FQDN_PATTERN.fullmatch(name))


def default_hosted_zone(domain_name: str) -> str:
    """The zone a domain most likely lives in: its parent, or itself for a two-label apex."""
    labels = domain_name.split(".")
    return domain_name if len(labels) <= 2 else ".".join(labels[1:])


def domain_problems(domain_name: str, hosted_zone_name: str) -> list[str]:
    """What is wrong with a domain and its zone ("": not given), in the settings' words."""
    problems = []
    if not is_fqdn(domain_name):
        problems.append(
            f"domainName {domain_name!r} is invalid: use a lower-case fully qualified domain name "
            "such as api.example.com (no trailing dot)"
        )
    if not hosted_zone_name:
        return problems
    if not is_fqdn(hosted_zone_name):
        problems.append(
            f"hostedZoneName {hosted_zone_name!r} is invalid: use a lower-case zone name such as "
            "example.com (no trailing dot)"
        )
    elif not problems and not (
        domain_name == hosted_zone_name or domain_name.endswith(f".{hosted_zone_name}")
    ):
        problems.append(
            f"domainName {domain_name!r} is not inside hostedZoneName {hosted_zone_name!r}"
        )
    return problems


@dataclass(frozen=True)
class DomainSettings:
    domain_name: str  # e.g. api.example.com
    hosted_zone_name: str  # e.g. example.com, a public Route 53 zone
    # The zone's id, looked up with the settings: a missing zone is then a settings error that
    # names the keys, not a provider error halfway through a preview.
    hosted_zone_id: str


@dataclass(frozen=True)
class DomainCertificateArgs:
    settings: DomainSettings


class DomainCertificate(pulumi.ComponentResource):
    """An ACM certificate for the domain in us-east-1, validated through DNS records."""

    certificate_arn: pulumi.Output[str]  # resolves once the certificate is issued
    zone_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: DomainCertificateArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(component_types.DOMAIN_CERTIFICATE, name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)

        # A replacement is created before the old certificate is deleted (Pulumi's default
        # order), which matters: a certificate in use by a distribution cannot be deleted.
        certificate = aws.acm.Certificate(
            f"{name}-certificate",
            region=CERTIFICATE_REGION,
            domain_name=settings.domain_name,
            validation_method="DNS",
            key_algorithm="RSA_2048",
            opts=child,
        )
        option = certificate.domain_validation_options[0]
        record = aws.route53.Record(
            f"{name}-validation",
            zone_id=settings.hosted_zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=VALIDATION_RECORD_TTL,
            allow_overwrite=True,  # ACM reuses the record if the certificate is recreated
            opts=child,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-validation",
            region=CERTIFICATE_REGION,
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=child,
        )

        self.certificate_arn = validation.certificate_arn
        self.zone_id = pulumi.Output.from_input(settings.hosted_zone_id)
        self.register_outputs({"certificate_arn": self.certificate_arn, "zone_id": self.zone_id})


@dataclass(frozen=True)
class DomainAliasArgs:
    domain_name: str
    zone_id: pulumi.Input[str]
    distribution_domain_name: pulumi.Input[str]
    distribution_hosted_zone_id: pulumi.Input[str]


class DomainAlias(pulumi.ComponentResource):
    """Route 53 alias records (A and AAAA, as IPv6 is on) pointing the domain at CloudFront."""

    def __init__(
        self,
        name: str,
        args: DomainAliasArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(component_types.DOMAIN_ALIAS, name, None, opts)

        for record_type in ("A", "AAAA"):
            aws.route53.Record(
                f"{name}-{record_type.lower()}",
                zone_id=args.zone_id,
                name=args.domain_name,
                type=record_type,
                aliases=[
                    aws.route53.RecordAliasArgs(
                        name=args.distribution_domain_name,
                        zone_id=args.distribution_hosted_zone_id,
                        evaluate_target_health=False,  # CloudFront targets require false
                    )
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})
