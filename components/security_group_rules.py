"""One TCP port, one peer: the only kind of security group rule this stack writes.

Each rule is its own `aws.vpc.SecurityGroupIngressRule` / `EgressRule` resource, so adding or
removing one never rewrites the others (inline rules would).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def allow_tcp(
    rule: type[aws.vpc.SecurityGroupIngressRule] | type[aws.vpc.SecurityGroupEgressRule],
    name: str,
    *,
    security_group_id: pulumi.Input[str],
    port: int,
    description: str,
    opts: pulumi.ResourceOptions,
    peer_security_group_id: pulumi.Input[str] | None = None,
    prefix_list_id: pulumi.Input[str] | None = None,
    cidr_ipv4: str | None = None,
) -> None:
    """A rule admitting (ingress) or sending (egress) TCP on `port` to exactly one peer."""
    rule(
        name,
        security_group_id=security_group_id,
        description=description,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        referenced_security_group_id=peer_security_group_id,
        prefix_list_id=prefix_list_id,
        cidr_ipv4=cidr_ipv4,
        opts=opts,
    )
