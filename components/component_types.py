"""The type names of the program's components, `<project>:<module>:<class>`, in one place for
the components and the tests. A renamed type keeps its old name as an alias, so existing
stacks keep their resources instead of replacing them."""

import pulumi

PROJECT = "cdn-alb-backend"

NETWORK = f"{PROJECT}:network:Network"
LOAD_BALANCED_BACKEND = f"{PROJECT}:backend:LoadBalancedBackend"
CDN_FRONT_DOOR = f"{PROJECT}:front_door:CdnFrontDoor"
EDGE_FIREWALL = f"{PROJECT}:edge_firewall:EdgeFirewall"
LOG_BUCKET = f"{PROJECT}:log_bucket:LogBucket"
DOMAIN_CERTIFICATE = f"{PROJECT}:dns:DomainCertificate"
DOMAIN_ALIAS = f"{PROJECT}:dns:DomainAlias"
OPERATIONS = f"{PROJECT}:operations:Operations"

# Former names, kept as aliases.
EDGE_FIREWALL_BEFORE = f"{PROJECT}:firewall:EdgeFirewall"
LOG_BUCKET_BEFORE = f"{PROJECT}:logs:LogBucket"


def formerly(former_type: str, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """`opts` plus an alias to the component's former type (its children follow it)."""
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=former_type)])
    )
