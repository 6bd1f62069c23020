"""LogBucket: one private S3 bucket for the stack's access logs (ALB, CloudFront, VPC flow logs).

Layout: `alb/AWSLogs/<account>/elasticloadbalancing/...` (the ALB),
`AWSLogs/<account>/CloudFront/<distribution id>/<yyyy>/<MM>/<dd>/<HH>/...` (CloudFront's standard
logs, v2) and `vpc-flow-logs/AWSLogs/<account>/vpcflowlogs/...` (flow logs).

Each writer has its own prefix and exactly the permission it needs; objects expire after the
retention period, requests without TLS are refused, and nothing can be made public.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import component_types
from components.private_bucket import block_public_access, deny_without_tls

ALB_LOG_PREFIX = "alb"  # the ALB adds "/AWSLogs/<account>/..." itself
# CloudFront's standard logging (v2) writes under AWSLogs/<account>/CloudFront/ itself; the
# delivery adds the distribution and the hour, so each object's key says where it came from.
CLOUDFRONT_LOG_SUFFIX = "{DistributionId}/{yyyy}/{MM}/{dd}/{HH}"
FLOW_LOG_PREFIX = "vpc-flow-logs/"
# ALB log delivery writes as this service principal in every region. Regions opened before
# August 2022 also write as a regional Elastic Load Balancing account, which
# `aws.elb.get_service_account` looks up; it fails in newer regions, where the service alone
# applies (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html).
ELB_LOG_DELIVERY_SERVICE = "logdelivery.elasticloadbalancing.amazonaws.com"
ELB_ACCOUNT_REGIONS = frozenset(
    {
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1",
        "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1",
        "ap-southeast-2", "ap-southeast-3", "ca-central-1", "eu-central-1", "eu-west-1",
        "eu-west-2", "eu-west-3", "eu-south-1", "eu-north-1", "me-south-1", "sa-east-1",
        "us-gov-east-1", "us-gov-west-1", "cn-north-1", "cn-northwest-1",
    }
)  # fmt: skip
# CloudWatch's log delivery service: writes CloudFront's standard logs (v2) and the VPC's flow
# logs, with the bucket owner's ACL, so the bucket needs no ACLs of its own (FSBP S3.12).
LOG_DELIVERY_SERVICE = "delivery.logs.amazonaws.com"


@dataclass(frozen=True)
class LogBucketSettings:
    retention_days: int
    flow_logs: bool  # also receive the VPC's flow logs
    region: str  # the stack's (and so the bucket's) region


def bucket_policy(
    bucket_arn: str, account_id: str, elb_account_arn: str | None, flow_logs: bool
) -> dict[str, Any]:
    """TLS only; ALB log delivery into alb/AWSLogs/<account>/; CloudWatch log delivery
    (CloudFront's standard logs, and the VPC's flow logs if wanted) into their prefixes, for
    this account only."""
    delivery_prefixes = [f"AWSLogs/{account_id}/CloudFront/"]
    if flow_logs:
        delivery_prefixes.append(FLOW_LOG_PREFIX)
    from_this_account = {
        "StringEquals": {"aws:SourceAccount": account_id},
        "ArnLike": {"aws:SourceArn": f"arn:aws:logs:*:{account_id}:*"},
    }
    statements: list[dict[str, Any]] = [
        deny_without_tls(bucket_arn),
        {
            "Sid": "AlbAccessLogs",
            "Effect": "Allow",
            "Principal": {"Service": ELB_LOG_DELIVERY_SERVICE}
            | ({"AWS": elb_account_arn} if elb_account_arn else {}),
            "Action": "s3:PutObject",
            # The ALB writes under alb/AWSLogs/<account>/: nothing else of the bucket.
            "Resource": f"{bucket_arn}/{ALB_LOG_PREFIX}/AWSLogs/{account_id}/*",
        },
        {
            "Sid": "LogDeliveryWrite",
            "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY_SERVICE},
            "Action": "s3:PutObject",
            "Resource": [f"{bucket_arn}/{prefix}*" for prefix in delivery_prefixes],
            "Condition": {
                **from_this_account,
                "StringEquals": {
                    **from_this_account["StringEquals"],
                    "s3:x-amz-acl": "bucket-owner-full-control",
                },
            },
        },
        {
            "Sid": "LogDeliveryCheckBucket",
            "Effect": "Allow",
            "Principal": {"Service": LOG_DELIVERY_SERVICE},
            "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
            "Resource": bucket_arn,
            "Condition": from_this_account,
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class LogBucketArgs:
    settings: LogBucketSettings


class LogBucket(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    flow_log_destination: pulumi.Output[str] | None  # where the VPC's flow logs go, if anywhere

    def __init__(
        self,
        name: str,
        args: LogBucketArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            component_types.LOG_BUCKET,
            name,
            None,
            component_types.formerly(component_types.LOG_BUCKET_BEFORE, opts),
        )
        settings = args.settings
        self._name = name
        child = pulumi.ResourceOptions(parent=self)

        # force_destroy: a stack's logs go with the stack; otherwise `pulumi destroy` fails on
        # the first non-empty bucket. Copy logs out first if they must outlive it.
        bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=True, opts=child)
        public_access_block = block_public_access(name, bucket, child)
        # ACLs off: the bucket owns every object, whoever writes it (FSBP S3.12).
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        self._encryption_and_expiry(bucket, settings.retention_days)
        elb_account_arn = (
            aws.elb.get_service_account_output(opts=pulumi.InvokeOutputOptions(parent=self)).arn
            if settings.region in ELB_ACCOUNT_REGIONS
            else None
        )
        account_id = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).account_id
        policy = aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, account_id, elb_account_arn).apply(
                lambda values: json.dumps(
                    bucket_policy(values[0], values[1], values[2], settings.flow_logs)
                )
            ),
            # S3 rejects a policy written while the public access block is still being set.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access_block]),
        )

        # Writers check their permission when they are configured, so whoever uses these
        # outputs waits for the policy (and the ownership setting) first.
        def after_policy(value: pulumi.Output[str]) -> pulumi.Output[str]:
            return pulumi.Output.all(value, policy.id, ownership.id).apply(
                lambda values: str(values[0])
            )

        self.bucket_name = after_policy(bucket.bucket)
        self.bucket_arn = after_policy(bucket.arn)
        self.flow_log_destination = (
            pulumi.Output.concat(self.bucket_arn, "/", FLOW_LOG_PREFIX)
            if settings.flow_logs
            else None
        )
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "flow_log_destination": self.flow_log_destination,
            }
        )

    def _encryption_and_expiry(self, bucket: aws.s3.Bucket, retention_days: int) -> None:
        name, child = self._name, pulumi.ResourceOptions(parent=self)
        # SSE-S3: ALB access logs cannot be written to a bucket encrypted with SSE-KMS.
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    )
                )
            ],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-logs",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=retention_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=1
                    ),
                )
            ],
            opts=child,
        )
