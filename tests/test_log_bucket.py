"""LogBucket: a private, encrypted, expiring bucket that only the log writers may write to."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.log_bucket import LogBucket, LogBucketArgs, LogBucketSettings
from tests.harness import (
    ACCOUNT_ID,
    ELB_ACCOUNT_US_EAST_1,
    ELB_SERVICE_ACCOUNT_TOKEN,
    Run,
    run_pulumi,
)

BUCKET_ARN = "arn:aws:s3:::logs-bucket-0a1b2c3"


def build(retention_days: int = 90, flow_logs: bool = False, region: str = "us-east-1") -> Run:
    def program() -> None:
        logs = LogBucket(
            "logs",
            LogBucketArgs(
                LogBucketSettings(retention_days=retention_days, flow_logs=flow_logs, region=region)
            ),
        )
        pulumi.export("bucket_name", logs.bucket_name)
        pulumi.export("bucket_arn", logs.bucket_arn)
        pulumi.export("flow_log_destination", logs.flow_log_destination)

    return run_pulumi(program, {})


@pytest.fixture(scope="module")
def run() -> Run:
    return build()


def statements(run: Run) -> dict[str, dict[str, Any]]:
    policy = json.loads(run.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert policy["Version"] == "2012-10-17"
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def test_nothing_can_be_made_public(run: Run) -> None:
    block = run.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")

    assert block.inputs == {
        "bucket": "logs-bucket-id",
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }


def test_objects_are_encrypted_with_s3_managed_keys(run: Run) -> None:
    encryption = run.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )

    assert encryption.inputs["rules"] == [
        {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    ]


def test_acls_are_disabled(run: Run) -> None:
    ownership = run.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls")

    # FSBP S3.12: no writer needs ACLs now CloudFront logs through CloudWatch's delivery.
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


@pytest.mark.parametrize("days", [7, 90])
def test_logs_expire_after_the_retention_period(days: int) -> None:
    lifecycle = build(retention_days=days).one(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    )

    [rule] = lifecycle.inputs["rules"]
    assert rule["status"] == "Enabled"
    assert rule["filter"] == {"prefix": ""}
    assert rule["expiration"] == {"days": days}
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}


def test_requests_without_tls_are_refused(run: Run) -> None:
    assert statements(run)["DenyWithoutTls"] == {
        "Sid": "DenyWithoutTls",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def test_load_balancer_may_write_only_under_its_prefix(run: Run) -> None:
    assert statements(run)["AlbAccessLogs"] == {
        "Sid": "AlbAccessLogs",
        "Effect": "Allow",
        "Principal": {
            "AWS": f"arn:aws:iam::{ELB_ACCOUNT_US_EAST_1}:root",
            "Service": "logdelivery.elasticloadbalancing.amazonaws.com",
        },
        "Action": "s3:PutObject",
        "Resource": f"{BUCKET_ARN}/alb/AWSLogs/{ACCOUNT_ID}/*",  # this account's ALBs only
    }


def test_newer_regions_grant_the_log_delivery_service_alone() -> None:
    # Regions opened after August 2022 have no ELB log account; looking one up fails there.
    run = build(region="ap-southeast-5")

    assert statements(run)["AlbAccessLogs"]["Principal"] == {
        "Service": "logdelivery.elasticloadbalancing.amazonaws.com"
    }
    assert [i for i in run.invokes if i.token == ELB_SERVICE_ACCOUNT_TOKEN] == []


FROM_THIS_ACCOUNT = {
    "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
    "ArnLike": {"aws:SourceArn": f"arn:aws:logs:*:{ACCOUNT_ID}:*"},
}


def test_log_delivery_writes_cloudfront_logs_for_this_account_only(run: Run) -> None:
    granted = statements(run)

    assert set(granted) == {
        "DenyWithoutTls",
        "AlbAccessLogs",
        "LogDeliveryWrite",
        "LogDeliveryCheckBucket",
    }
    assert granted["LogDeliveryWrite"] == {
        "Sid": "LogDeliveryWrite",
        "Effect": "Allow",
        "Principal": {"Service": "delivery.logs.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": [f"{BUCKET_ARN}/AWSLogs/{ACCOUNT_ID}/CloudFront/*"],
        "Condition": {
            "StringEquals": {
                "aws:SourceAccount": ACCOUNT_ID,
                "s3:x-amz-acl": "bucket-owner-full-control",
            },
            "ArnLike": {"aws:SourceArn": f"arn:aws:logs:*:{ACCOUNT_ID}:*"},
        },
    }
    assert granted["LogDeliveryCheckBucket"] == {
        "Sid": "LogDeliveryCheckBucket",
        "Effect": "Allow",
        "Principal": {"Service": "delivery.logs.amazonaws.com"},
        "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
        "Resource": BUCKET_ARN,
        "Condition": FROM_THIS_ACCOUNT,
    }


def test_flow_log_delivery_is_allowed_only_with_flow_logs(run: Run) -> None:
    assert f"{BUCKET_ARN}/vpc-flow-logs/*" not in statements(run)["LogDeliveryWrite"]["Resource"]

    with_flow_logs = build(flow_logs=True)
    assert statements(with_flow_logs)["LogDeliveryWrite"]["Resource"] == [
        f"{BUCKET_ARN}/AWSLogs/{ACCOUNT_ID}/CloudFront/*",
        f"{BUCKET_ARN}/vpc-flow-logs/*",
    ]
    assert with_flow_logs.exports["flow_log_destination"] == f"{BUCKET_ARN}/vpc-flow-logs/"


def test_bucket_can_be_destroyed_with_its_logs(run: Run) -> None:
    assert run.one("aws:s3/bucket:Bucket").inputs["forceDestroy"] is True


def test_outputs_and_former_type(run: Run) -> None:
    bucket = run.one("aws:s3/bucket:Bucket")
    component = run.one("cdn-alb-backend:log_bucket:LogBucket")
    # Renamed from cdn-alb-backend:logs:LogBucket; the alias keeps existing stacks' bucket.
    assert component.aliases == ("cdn-alb-backend:logs:LogBucket",)

    assert run.exports == {
        "bucket_name": bucket.outputs["bucket"],
        "bucket_arn": BUCKET_ARN,
        "flow_log_destination": None,
    }
