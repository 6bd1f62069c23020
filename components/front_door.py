"""CdnFrontDoor: the CloudFront distribution in front of the load balancer.

Viewers speak HTTPS to CloudFront; CloudFront speaks HTTP to the ALB on port 80 inside AWS's
network. Nothing is cached (the API is dynamic) and every viewer header, cookie and query string
reaches the backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pulumi
import pulumi_aws as aws

from components import component_types
from components.alb_origin import AlbOrigin, VpcOriginTarget
from components.log_bucket import CLOUDFRONT_LOG_SUFFIX

# AWS managed policies, the same ids in every account
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html).
CACHING_DISABLED_POLICY_ID = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # Managed-CachingDisabled
ALL_VIEWER_POLICY_ID = "216adef6-5c7f-47e4-b989-5492eafa07d3"  # Managed-AllViewer (origin request)
# HSTS, X-Content-Type-Options, X-Frame-Options, Referrer-Policy and X-XSS-Protection on every
# response (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-response-headers-policies.html).
SECURITY_HEADERS_POLICY_ID = "67f7725c-6f97-4210-82d7-5512b31e9d03"  # Managed-SecurityHeadersPolicy

CLOUDFRONT_REGION = "us-east-1"  # where CloudFront's log delivery source must be
# W3C: the same fields and layout as the legacy standard logs, so existing tools still read them.
STANDARD_LOG_FORMAT = "w3c"
ALLOWED_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
CACHED_METHODS = ["GET", "HEAD"]  # CloudFront requires these two even when nothing is cached
ORIGIN_ID = "alb"
ORIGIN_READ_TIMEOUT_SECONDS = 30  # below the ALB's idle timeout (65 s)
# The longest CloudFront allows without a quota increase: sparse traffic reuses a warm origin
# connection instead of paying a TCP handshake per request. The ALB's idle timeout is longer.
ORIGIN_KEEPALIVE_SECONDS = 60
# CloudFront creates this security group in the VPC with the first VPC origin there; its network
# interfaces reach the internal ALB from it
# (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-vpc-origins.html).
VPC_ORIGIN_SERVICE_GROUP = "CloudFront-VPCOrigins-Service-SG"


class PriceClass(StrEnum):
    """Which CloudFront edge locations serve viewers (fewer is cheaper)."""

    NORTH_AMERICA_EUROPE = "PriceClass_100"
    MOST_REGIONS = "PriceClass_200"
    ALL = "PriceClass_All"


@dataclass(frozen=True)
class FrontDoorSettings:
    price_class: PriceClass


# The oldest TLS version viewers may use with a custom certificate: TLS 1.2 with modern ciphers.
# (With the default *.cloudfront.net certificate CloudFront fixes the policy at TLSv1.)
MINIMUM_VIEWER_TLS = "TLSv1.2_2021"


@dataclass(frozen=True)
class CustomDomain:
    """A domain served by the distribution with its own certificate (issued in us-east-1)."""

    domain_name: str
    certificate_arn: pulumi.Input[str]


@dataclass(frozen=True)
class CdnFrontDoorArgs:
    settings: FrontDoorSettings
    origin: AlbOrigin  # the load balancer, and how CloudFront reaches it
    description: str  # shown as the distribution's comment in the console
    web_acl_arn: pulumi.Input[str] | None = None  # an AWS WAF (v2) web ACL with CLOUDFRONT scope
    custom_domain: CustomDomain | None = None  # None: *.cloudfront.net and its certificate
    log_bucket_arn: pulumi.Input[str] | None = None  # None: no standard logs


def _viewer_certificate(
    custom_domain: CustomDomain | None,
) -> aws.cloudfront.DistributionViewerCertificateArgs:
    if custom_domain is None:
        return aws.cloudfront.DistributionViewerCertificateArgs(cloudfront_default_certificate=True)
    return aws.cloudfront.DistributionViewerCertificateArgs(
        acm_certificate_arn=custom_domain.certificate_arn,
        ssl_support_method="sni-only",  # a dedicated-IP certificate costs $600 a month
        minimum_protocol_version=MINIMUM_VIEWER_TLS,
    )


class CdnFrontDoor(pulumi.ComponentResource):
    distribution_id: pulumi.Output[str]
    distribution_arn: pulumi.Output[str]
    domain_name: pulumi.Output[str]
    hosted_zone_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: CdnFrontDoorArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(component_types.CDN_FRONT_DOOR, name, None, opts)
        origin = args.origin

        origin_config = aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
            origin_protocol_policy="http-only",
            http_port=80,
            # Unused with http-only, but the API requires both fields.
            https_port=443,
            origin_ssl_protocols=["TLSv1.2"],
            origin_read_timeout=ORIGIN_READ_TIMEOUT_SECONDS,
            origin_keepalive_timeout=ORIGIN_KEEPALIVE_SECONDS,
        )
        vpc_origin_config = (
            self._vpc_origin(name, origin.vpc_origin) if origin.vpc_origin is not None else None
        )

        distribution = aws.cloudfront.Distribution(
            f"{name}-distribution",
            comment=args.description[:128],
            enabled=True,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class=args.settings.price_class.value,
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=ORIGIN_ID,
                    domain_name=origin.domain_name,
                    custom_headers=[
                        aws.cloudfront.DistributionOriginCustomHeaderArgs(
                            name=origin.header.name, value=origin.header.value
                        )
                    ],
                    custom_origin_config=None if vpc_origin_config else origin_config,
                    vpc_origin_config=vpc_origin_config,
                )
            ],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=ORIGIN_ID,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=ALLOWED_METHODS,
                cached_methods=CACHED_METHODS,
                cache_policy_id=CACHING_DISABLED_POLICY_ID,
                origin_request_policy_id=ALL_VIEWER_POLICY_ID,
                response_headers_policy_id=SECURITY_HEADERS_POLICY_ID,
            ),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none", locations=[]
                )
            ),
            aliases=[args.custom_domain.domain_name] if args.custom_domain else None,
            viewer_certificate=_viewer_certificate(args.custom_domain),
            web_acl_id=args.web_acl_arn,
            opts=pulumi.ResourceOptions(parent=self),
        )

        if args.log_bucket_arn is not None:
            self._standard_logs(name, distribution, args.log_bucket_arn)

        self.distribution_id = distribution.id
        self.distribution_arn = distribution.arn
        self.domain_name = distribution.domain_name
        self.hosted_zone_id = distribution.hosted_zone_id
        self.register_outputs(
            {
                "distribution_id": self.distribution_id,
                "distribution_arn": self.distribution_arn,
                "domain_name": self.domain_name,
                "hosted_zone_id": self.hosted_zone_id,
            }
        )

    def _standard_logs(
        self, name: str, distribution: aws.cloudfront.Distribution, bucket_arn: pulumi.Input[str]
    ) -> None:
        """Standard logging (v2): CloudWatch's log delivery, from a source in us-east-1 (where
        CloudFront's lives) to the log bucket in any region. Unlike the legacy logging, it needs
        no bucket ACLs."""
        child = pulumi.ResourceOptions(parent=self)
        source = aws.cloudwatch.LogDeliverySource(
            f"{name}-log-source",
            region=CLOUDFRONT_REGION,
            log_type="ACCESS_LOGS",
            resource_arn=distribution.arn,
            opts=child,
        )
        destination = aws.cloudwatch.LogDeliveryDestination(
            f"{name}-log-destination",
            region=CLOUDFRONT_REGION,
            output_format=STANDARD_LOG_FORMAT,
            delivery_destination_configuration=aws.cloudwatch.LogDeliveryDestinationDeliveryDestinationConfigurationArgs(
                destination_resource_arn=bucket_arn
            ),
            opts=child,
        )
        aws.cloudwatch.LogDelivery(
            f"{name}-log-delivery",
            region=CLOUDFRONT_REGION,
            delivery_source_name=source.name,
            delivery_destination_arn=destination.arn,
            s3_delivery_configurations=[
                aws.cloudwatch.LogDeliveryS3DeliveryConfigurationArgs(
                    suffix_path=CLOUDFRONT_LOG_SUFFIX, enable_hive_compatible_path=False
                )
            ],
            opts=child,
        )

    def _vpc_origin(
        self, name: str, target: VpcOriginTarget
    ) -> aws.cloudfront.DistributionOriginVpcOriginConfigArgs:
        """A VPC origin for the internal ALB, and the ALB's door opened to it (by the backend,
        which owns the ALB's security group)."""
        vpc_origin = aws.cloudfront.VpcOrigin(
            f"{name}-vpc-origin",
            vpc_origin_endpoint_config=aws.cloudfront.VpcOriginVpcOriginEndpointConfigArgs(
                name=f"{pulumi.get_project()}-{pulumi.get_stack()}-alb",
                arn=target.alb_arn,
                origin_protocol_policy="http-only",
                http_port=80,
                https_port=443,
                origin_ssl_protocols=aws.cloudfront.VpcOriginVpcOriginEndpointConfigOriginSslProtocolsArgs(
                    items=["TLSv1.2"], quantity=1
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        service_group = aws.ec2.get_security_group_output(
            name=VPC_ORIGIN_SERVICE_GROUP,
            vpc_id=target.vpc_id,
            opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[vpc_origin]),
        )
        target.admit(
            service_group.id,
            # The rule was the front door's before the backend owned it.
            pulumi.ResourceOptions(
                aliases=[pulumi.Alias(name=f"{name}-alb-from-vpc-origin", parent=self)]
            ),
        )
        return aws.cloudfront.DistributionOriginVpcOriginConfigArgs(
            vpc_origin_id=vpc_origin.id,
            origin_read_timeout=ORIGIN_READ_TIMEOUT_SECONDS,
            origin_keepalive_timeout=ORIGIN_KEEPALIVE_SECONDS,
        )
