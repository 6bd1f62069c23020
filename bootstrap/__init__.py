"""The account bootstrap: a second Pulumi program (bootstrap/Pulumi.yaml) that an administrator
runs once per AWS account to create what CI needs: GitHub's OIDC provider, a deploy role and a
read-only preview role, and an encrypted S3 bucket and KMS key for Pulumi's state and secrets."""
