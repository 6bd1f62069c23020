"""StateBackend: where Pulumi keeps the stacks' state (an S3 bucket) and encrypts their secrets
(a KMS key per environment, for `--secrets-provider awskms://alias/...`).

The bucket is encrypted with its own key (SSE-KMS, with an S3 bucket key to keep KMS calls and
cost down) rather than SSE-S3: reading a state file then takes both the bucket and the key
permission, and every decryption shows in CloudTrail. Each key has an explicit key policy
(policies.key_policy): the account administers it, and names who may use it. Old versions of
a state file are kept for a while, so a bad update can be rolled back by restoring the previous
version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.private_bucket import block_public_access, deny_without_tls

STATE_BACKEND = "cdn-alb-backend-bootstrap:state:StateBackend"
ABORT_INCOMPLETE_UPLOADS_DAYS = 1
KEY_DELETION_WINDOW_DAYS = 30  # the longest AWS allows: time to notice a mistaken deletion


@dataclass(frozen=True)
class StateBackendArgs:
    bucket_name: str
    key_alias: str  # alias/...: the bucket's key
    region: str
    noncurrent_version_days: int  # replaced state file versions expire after this many days
    bucket_key_policy: pulumi.Input[str]  # JSON
    # One key for the stack secrets of each environment: its alias and its key policy (JSON).
    secrets_keys: Mapping[str, tuple[str, pulumi.Input[str]]] = field(default_factory=dict)


def tls_only_policy(bucket_arn: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [deny_without_tls(bucket_arn)]}


class StateBackend(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]  # the bucket's key
    backend_url: pulumi.Output[str]  # for `pulumi login` / PULUMI_BACKEND_URL
    secrets_key_arns: dict[str, pulumi.Output[str]]  # by environment
    secrets_providers: dict[str, str]  # by environment, for `pulumi stack init --secrets-provider`

    def __init__(
        self, name: str, args: StateBackendArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(STATE_BACKEND, name, None, opts)
        self._name = name
        key = self._key(
            f"{name}-key", "Pulumi state bucket", args.key_alias, args.bucket_key_policy
        )
        self.secrets_key_arns = {
            environment: self._key(
                f"{name}-{environment}-key", f"Pulumi stack secrets of {environment}", *key_args
            ).arn
            for environment, key_args in args.secrets_keys.items()
        }
        self.secrets_providers = {
            environment: f"awskms://{alias}?region={args.region}"
            for environment, (alias, _) in args.secrets_keys.items()
        }
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self._lock_down(bucket)
        self._encrypt_and_version(bucket, key, args.noncurrent_version_days)

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.key_arn = key.arn
        self.backend_url = pulumi.Output.concat("s3://", bucket.bucket, f"?region={args.region}")
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "key_arn": self.key_arn,
                "backend_url": self.backend_url,
                "secrets_key_arns": self.secrets_key_arns,
                "secrets_providers": self.secrets_providers,
            }
        )

    def _key(
        self, name: str, description: str, alias: str, policy: pulumi.Input[str]
    ) -> aws.kms.Key:
        key = aws.kms.Key(
            name,
            description=description,
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=policy,
            # State and secrets are encrypted with it: `pulumi destroy` must not take it.
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        aws.kms.Alias(
            f"{name}-alias",
            name=alias,
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return key

    def _lock_down(self, bucket: aws.s3.Bucket) -> None:
        """No public access, no ACLs (the bucket owner owns every object), TLS only."""
        name, child = self._name, pulumi.ResourceOptions(parent=self)
        public_access_block = block_public_access(name, bucket, child)
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(tls_only_policy(arn))),
            # S3 rejects a policy written while the public access block is still being set.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access_block]),
        )

    def _encrypt_and_version(
        self, bucket: aws.s3.Bucket, key: aws.kms.Key, noncurrent_version_days: int
    ) -> None:
        name, child = self._name, pulumi.ResourceOptions(parent=self)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=key.arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-replaced-state-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=noncurrent_version_days
                    ),
                    # Delete markers left once a deleted stack's versions have expired.
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        expired_object_delete_marker=True
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=ABORT_INCOMPLETE_UPLOADS_DAYS
                    ),
                )
            ],
            # A lifecycle rule on noncurrent versions needs versioning in place first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
