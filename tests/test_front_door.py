"""CdnFrontDoor: the distribution configured exactly as the console walkthrough sets it up."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from components.alb_origin import AlbOrigin, OriginHeader, VpcOriginTarget
from components.front_door import (
    CdnFrontDoor,
    CdnFrontDoorArgs,
    CustomDomain,
    FrontDoorSettings,
    PriceClass,
)
from components.security_group_rules import allow_tcp
from tests.harness import (
    SECURITY_GROUP_TOKEN,
    VPC_ORIGIN_SERVICE_GROUP_ID,
    Resource,
    Run,
    is_secret,
    run_pulumi,
    unwrap_secret,
)

ALB_DNS_NAME = "backend-alb-1234567890.us-east-1.elb.amazonaws.com"
ORIGIN_SECRET = "s3cr3tValueOnlyTheDistributionKnows"
SEVEN_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]


def build(
    price_class: PriceClass = PriceClass.NORTH_AMERICA_EUROPE, web_acl_arn: str | None = None
) -> Run:
    def program() -> None:
        front_door = CdnFrontDoor(
            "front-door",
            CdnFrontDoorArgs(
                settings=FrontDoorSettings(price_class=price_class),
                origin=AlbOrigin(
                    domain_name=pulumi.Output.from_input(ALB_DNS_NAME),
                    header=OriginHeader("X-Origin-Verify", pulumi.Output.secret(ORIGIN_SECRET)),
                ),
                description="cdn-alb-backend (test): API front door to the ALB",
                web_acl_arn=web_acl_arn,
            ),
        )
        pulumi.export("distribution_id", front_door.distribution_id)
        pulumi.export("distribution_arn", front_door.distribution_arn)
        pulumi.export("domain_name", front_door.domain_name)
        pulumi.export("hosted_zone_id", front_door.hosted_zone_id)

    return run_pulumi(program, {})


@pytest.fixture(scope="module")
def run() -> Run:
    return build()


@pytest.fixture(scope="module")
def distribution(run: Run) -> Resource:
    return run.one("aws:cloudfront/distribution:Distribution")


def origins(distribution: Resource) -> list[dict[str, Any]]:
    """The origins, which travel encrypted because they carry the origin secret."""
    return unwrap_secret(distribution.inputs["origins"])


def test_single_origin_is_the_alb_over_http_only_on_port_80(distribution: Resource) -> None:
    [origin] = origins(distribution)

    assert origin["domainName"] == ALB_DNS_NAME
    assert origin["customOriginConfig"] == {
        "originProtocolPolicy": "http-only",
        "httpPort": 80,
        "httpsPort": 443,
        "originSslProtocols": ["TLSv1.2"],
        "originReadTimeout": 30,
        "originKeepaliveTimeout": 60,
    }
    assert "s3OriginConfig" not in origin


def test_origin_requests_carry_the_secret_header_and_stay_secret(distribution: Resource) -> None:
    [origin] = origins(distribution)

    assert is_secret(distribution.inputs["origins"])
    assert origin["customHeaders"] == [{"name": "X-Origin-Verify", "value": ORIGIN_SECRET}]


def test_viewers_are_redirected_from_http_to_https(distribution: Resource) -> None:
    behavior = distribution.inputs["defaultCacheBehavior"]

    assert behavior["viewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["targetOriginId"] == origins(distribution)[0]["originId"]


def test_all_seven_methods_are_allowed_and_only_get_head_cached(distribution: Resource) -> None:
    behavior = distribution.inputs["defaultCacheBehavior"]

    assert behavior["allowedMethods"] == SEVEN_METHODS
    assert behavior["cachedMethods"] == ["GET", "HEAD"]


def test_managed_caching_disabled_and_all_viewer_policies(distribution: Resource) -> None:
    behavior = distribution.inputs["defaultCacheBehavior"]

    assert behavior["cachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # CachingDisabled
    assert behavior["originRequestPolicyId"] == "216adef6-5c7f-47e4-b989-5492eafa07d3"  # AllViewer
    assert "forwardedValues" not in behavior  # legacy settings conflict with policies
    assert "orderedCacheBehaviors" not in distribution.inputs


def test_responses_carry_hsts_and_the_usual_security_headers(distribution: Resource) -> None:
    behavior = distribution.inputs["defaultCacheBehavior"]

    # Managed-SecurityHeadersPolicy: HSTS, nosniff, frame options, referrer policy, XSS filter.
    assert behavior["responseHeadersPolicyId"] == "67f7725c-6f97-4210-82d7-5512b31e9d03"


def test_distribution_serves_http2_http3_and_ipv6_everywhere(distribution: Resource) -> None:
    assert distribution.inputs["enabled"] is True
    assert distribution.inputs["httpVersion"] == "http2and3"
    assert distribution.inputs["isIpv6Enabled"] is True
    assert distribution.inputs["restrictions"] == {
        "geoRestriction": {"restrictionType": "none", "locations": []}
    }


def test_default_cloudfront_certificate_without_a_custom_domain(distribution: Resource) -> None:
    assert distribution.inputs["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
    assert "aliases" not in distribution.inputs


def test_comment_names_the_stack_and_purpose(distribution: Resource) -> None:
    assert distribution.inputs["comment"] == "cdn-alb-backend (test): API front door to the ALB"


@pytest.mark.parametrize("price_class", list(PriceClass))
def test_price_class_follows_the_setting(price_class: PriceClass) -> None:
    distribution = build(price_class=price_class).one("aws:cloudfront/distribution:Distribution")

    assert distribution.inputs["priceClass"] == price_class.value


def test_no_web_acl_unless_one_is_given(distribution: Resource) -> None:
    assert "webAclId" not in distribution.inputs


def test_given_web_acl_is_attached() -> None:
    arn = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/front-door/abc"
    distribution = build(web_acl_arn=arn).one("aws:cloudfront/distribution:Distribution")

    assert distribution.inputs["webAclId"] == arn


def test_outputs(run: Run, distribution: Resource) -> None:
    assert run.exports == {
        "distribution_id": distribution.outputs["id"],
        "distribution_arn": distribution.outputs["arn"],
        "domain_name": "d111111abcdef8.cloudfront.net",
        "hosted_zone_id": "Z2FDTNDATAQYW2",
    }


def admit_in_alb_group(peer_security_group_id: Any, opts: pulumi.ResourceOptions) -> None:
    """Stands in for the backend, which opens its ALB's group to the peer."""
    allow_tcp(
        aws.vpc.SecurityGroupIngressRule,
        "backend-alb-from-vpc-origin",
        security_group_id="sg-alb",
        port=80,
        description="HTTP from the CloudFront VPC origin network interfaces",
        peer_security_group_id=peer_security_group_id,
        opts=opts,
    )


def build_with_vpc_origin() -> Run:
    def program() -> None:
        CdnFrontDoor(
            "front-door",
            CdnFrontDoorArgs(
                settings=FrontDoorSettings(price_class=PriceClass.NORTH_AMERICA_EUROPE),
                origin=AlbOrigin(
                    domain_name="internal-backend-alb-123.us-east-1.elb.amazonaws.com",
                    header=OriginHeader("X-Origin-Verify", ORIGIN_SECRET),
                    vpc_origin=VpcOriginTarget(
                        alb_arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/backend-alb/1",
                        vpc_id="vpc-0123",
                        admit=admit_in_alb_group,
                    ),
                ),
                description="cdn-alb-backend (test): API front door to the ALB",
            ),
        )

    return run_pulumi(program, {})


def test_vpc_origin_reaches_the_internal_alb_over_http_on_port_80() -> None:
    run = build_with_vpc_origin()
    vpc_origin = run.one("aws:cloudfront/vpcOrigin:VpcOrigin")

    assert vpc_origin.inputs["vpcOriginEndpointConfig"] == {
        "name": "cdn-alb-backend-test-alb",
        "arn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/backend-alb/1",
        "originProtocolPolicy": "http-only",
        "httpPort": 80,
        "httpsPort": 443,
        "originSslProtocols": {"items": ["TLSv1.2"], "quantity": 1},
    }
    [origin] = run.one("aws:cloudfront/distribution:Distribution").inputs["origins"]
    assert origin["domainName"] == "internal-backend-alb-123.us-east-1.elb.amazonaws.com"
    assert origin["vpcOriginConfig"] == {
        "vpcOriginId": vpc_origin.outputs["id"],
        "originReadTimeout": 30,
        "originKeepaliveTimeout": 60,
    }
    assert "customOriginConfig" not in origin
    assert origin["customHeaders"] == [{"name": "X-Origin-Verify", "value": ORIGIN_SECRET}]


def test_vpc_origin_network_interfaces_may_reach_the_alb() -> None:
    run = build_with_vpc_origin()

    [rule] = run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    assert rule.inputs["securityGroupId"] == "sg-alb"
    assert rule.inputs["referencedSecurityGroupId"] == VPC_ORIGIN_SERVICE_GROUP_ID
    assert (rule.inputs["ipProtocol"], rule.inputs["fromPort"], rule.inputs["toPort"]) == (
        "tcp",
        80,
        80,
    )
    [lookup] = [i for i in run.invokes if i.token == SECURITY_GROUP_TOKEN]
    assert lookup.args == {"name": "CloudFront-VPCOrigins-Service-SG", "vpcId": "vpc-0123"}
    # The rule was the front door's before the backend owned it: an alias keeps it in place.
    assert rule.aliases == ("front-door-alb-from-vpc-origin",)


def test_public_alb_needs_no_vpc_origin(run: Run) -> None:
    assert run.of_type("aws:cloudfront/vpcOrigin:VpcOrigin") == []
    assert run.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") == []


def test_custom_domain_gets_its_certificate_with_sni_and_modern_tls() -> None:
    certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c"

    def program() -> None:
        CdnFrontDoor(
            "front-door",
            CdnFrontDoorArgs(
                settings=FrontDoorSettings(price_class=PriceClass.NORTH_AMERICA_EUROPE),
                origin=AlbOrigin(ALB_DNS_NAME, OriginHeader("X-Origin-Verify", ORIGIN_SECRET)),
                description="cdn-alb-backend (test): API front door to the ALB",
                custom_domain=CustomDomain(
                    domain_name="api.example.com", certificate_arn=certificate_arn
                ),
            ),
        )

    distribution = run_pulumi(program, {}).one("aws:cloudfront/distribution:Distribution")

    assert distribution.inputs["aliases"] == ["api.example.com"]
    assert distribution.inputs["viewerCertificate"] == {
        "acmCertificateArn": certificate_arn,
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }


def test_standard_logs_v2_deliver_to_the_bucket_from_us_east_1() -> None:
    bucket_arn = "arn:aws:s3:::logs-bucket-0a1b2c3"

    def program() -> None:
        CdnFrontDoor(
            "front-door",
            CdnFrontDoorArgs(
                settings=FrontDoorSettings(price_class=PriceClass.NORTH_AMERICA_EUROPE),
                origin=AlbOrigin(ALB_DNS_NAME, OriginHeader("X-Origin-Verify", ORIGIN_SECRET)),
                description="cdn-alb-backend (test): API front door to the ALB",
                log_bucket_arn=bucket_arn,
            ),
        )

    run = run_pulumi(program, {})
    dist = run.one("aws:cloudfront/distribution:Distribution")
    source = run.one("aws:cloudwatch/logDeliverySource:LogDeliverySource")
    destination = run.one("aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination")
    delivery = run.one("aws:cloudwatch/logDelivery:LogDelivery")

    assert "loggingConfig" not in dist.inputs  # legacy logging would need bucket ACLs
    assert {source.inputs["region"], destination.inputs["region"], delivery.inputs["region"]} == {
        "us-east-1"
    }
    assert (source.inputs["logType"], source.inputs["resourceArn"]) == (
        "ACCESS_LOGS",
        dist.outputs["arn"],
    )
    assert destination.inputs["outputFormat"] == "w3c"
    assert destination.inputs["deliveryDestinationConfiguration"] == {
        "destinationResourceArn": bucket_arn
    }
    assert delivery.inputs["s3DeliveryConfigurations"] == [
        {"suffixPath": "{DistributionId}/{yyyy}/{MM}/{dd}/{HH}", "enableHiveCompatiblePath": False}
    ]
