"""What every S3 bucket of this project gets, whoever owns it: no public access, and no
request without TLS. Shared by the stack's log bucket and the bootstrap's state bucket."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws


def deny_without_tls(bucket_arn: str) -> dict[str, Any]:
    """The bucket policy statement refusing every request not made over TLS (FSBP S3.5)."""
    return {
        "Sid": "DenyWithoutTls",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def block_public_access(
    name: str, bucket: aws.s3.Bucket, opts: pulumi.ResourceOptions
) -> aws.s3.BucketPublicAccessBlock:
    """All four public-access blocks on (FSBP S3.1/S3.8). A bucket policy must wait for it:
    S3 rejects a policy written while the block is still being set."""
    return aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access-block",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
