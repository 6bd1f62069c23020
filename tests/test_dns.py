"""Custom domain: certificate in us-east-1 validated through Route 53, and alias records."""

from __future__ import annotations

import pulumi
import pytest

from components.dns import (
    DomainAlias,
    DomainAliasArgs,
    DomainCertificate,
    DomainCertificateArgs,
    DomainSettings,
)
from tests.harness import HOSTED_ZONES, Run, run_pulumi

ZONE_ID = HOSTED_ZONES["example.com"]


@pytest.fixture(scope="module")
def certificate_run() -> Run:
    def program() -> None:
        certificate = DomainCertificate(
            "domain",
            DomainCertificateArgs(
                DomainSettings(
                    domain_name="api.example.com",
                    hosted_zone_name="example.com",
                    hosted_zone_id=ZONE_ID,
                )
            ),
        )
        pulumi.export("certificate_arn", certificate.certificate_arn)
        pulumi.export("zone_id", certificate.zone_id)

    return run_pulumi(program, {})


@pytest.fixture(scope="module")
def alias_run() -> Run:
    def program() -> None:
        DomainAlias(
            "domain",
            DomainAliasArgs(
                domain_name="api.example.com",
                zone_id=ZONE_ID,
                distribution_domain_name="d111111abcdef8.cloudfront.net",
                distribution_hosted_zone_id="Z2FDTNDATAQYW2",
            ),
        )

    return run_pulumi(program, {})


def test_certificate_is_requested_in_us_east_1_with_dns_validation(certificate_run: Run) -> None:
    certificate = certificate_run.one("aws:acm/certificate:Certificate")

    assert certificate.inputs["region"] == "us-east-1"
    assert certificate.inputs["domainName"] == "api.example.com"
    assert certificate.inputs["validationMethod"] == "DNS"
    assert certificate.provider == ""  # the stack's own provider, moved by `region`


def test_validation_record_is_the_one_acm_asks_for(certificate_run: Run) -> None:
    certificate = certificate_run.one("aws:acm/certificate:Certificate")
    [option] = certificate.outputs["domainValidationOptions"]
    record = certificate_run.one("aws:route53/record:Record")

    assert record.inputs["zoneId"] == ZONE_ID
    assert record.inputs["name"] == option["resourceRecordName"]
    assert record.inputs["type"] == option["resourceRecordType"] == "CNAME"
    assert record.inputs["records"] == [option["resourceRecordValue"]]
    assert record.inputs["ttl"] == 60


def test_distribution_waits_for_the_issued_certificate(certificate_run: Run) -> None:
    certificate = certificate_run.one("aws:acm/certificate:Certificate")
    validation = certificate_run.one("aws:acm/certificateValidation:CertificateValidation")
    record = certificate_run.one("aws:route53/record:Record")

    assert validation.inputs["region"] == "us-east-1"
    assert validation.inputs["certificateArn"] == certificate.outputs["arn"]
    assert validation.inputs["validationRecordFqdns"] == [record.outputs["fqdn"]]
    assert certificate_run.exports == {
        "certificate_arn": validation.outputs["certificateArn"],
        "zone_id": ZONE_ID,
    }


def test_alias_records_point_both_address_families_at_the_distribution(alias_run: Run) -> None:
    records = {r.inputs["type"]: r for r in alias_run.of_type("aws:route53/record:Record")}

    assert set(records) == {"A", "AAAA"}
    for record in records.values():
        assert record.inputs["zoneId"] == ZONE_ID
        assert record.inputs["name"] == "api.example.com"
        assert record.inputs["aliases"] == [
            {
                "name": "d111111abcdef8.cloudfront.net",
                "zoneId": "Z2FDTNDATAQYW2",
                "evaluateTargetHealth": False,
            }
        ]
