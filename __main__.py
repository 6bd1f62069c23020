"""CloudFront -> Application Load Balancer -> EC2 Auto Scaling group, one stack per environment.

Wiring only: the settings are read and validated first, so bad config fails before any
resource exists; each component lives in components/.
"""

import pulumi

from components.backend import LoadBalancedBackend, LoadBalancedBackendArgs
from components.dns import DomainAlias, DomainAliasArgs, DomainCertificate, DomainCertificateArgs
from components.edge_firewall import EdgeFirewall, EdgeFirewallArgs
from components.front_door import CdnFrontDoor, CdnFrontDoorArgs, CustomDomain
from components.log_bucket import LogBucket, LogBucketArgs
from components.network import Network, NetworkArgs
from components.operations import ROLLOUT_GUARDS, Operations, OperationsArgs, alarm_name
from stack_settings import load_settings

settings = load_settings()

logs = LogBucket("logs", LogBucketArgs(settings.logs)) if settings.logs else None
network = Network(
    "network",
    NetworkArgs(settings.network, flow_log_destination=logs.flow_log_destination if logs else None),
)
backend = LoadBalancedBackend(
    "backend",
    LoadBalancedBackendArgs(
        settings=settings.backend,
        vpc_id=network.vpc_id,
        public_subnet_ids=network.public_subnet_ids,
        private_subnet_ids=network.private_subnet_ids,
        access_log_bucket=logs.bucket_name if logs else None,
        rollout_alarm_names=[alarm_name(guard) for guard in ROLLOUT_GUARDS],
    ),
)
firewall = (
    EdgeFirewall("firewall", EdgeFirewallArgs(settings.firewall)) if settings.firewall else None
)
domain = settings.domain
certificate = DomainCertificate("domain", DomainCertificateArgs(domain)) if domain else None
front_door = CdnFrontDoor(
    "front-door",
    CdnFrontDoorArgs(
        settings=settings.front_door,
        origin=backend.origin,
        web_acl_arn=firewall.web_acl_arn if firewall else None,
        log_bucket_arn=logs.bucket_arn if logs else None,
        custom_domain=CustomDomain(domain.domain_name, certificate.certificate_arn)
        if domain and certificate
        else None,
        description=f"{pulumi.get_project()} ({pulumi.get_stack()}): API front door to the ALB",
    ),
)

operations = Operations(
    "operations",
    OperationsArgs(
        settings=settings.operations,
        asg_name=backend.asg_name,
        min_healthy_hosts=backend.min_size,
        alb_arn_suffix=backend.alb_arn_suffix,
        target_group_arn_suffix=backend.target_group_arn_suffix,
        distribution_id=front_door.distribution_id,
        cpu_credits=settings.backend.cpu_credits,
    ),
)
if domain and certificate:
    DomainAlias(
        "domain",
        DomainAliasArgs(
            domain_name=domain.domain_name,
            zone_id=certificate.zone_id,
            distribution_domain_name=front_door.domain_name,
            distribution_hosted_zone_id=front_door.hosted_zone_id,
        ),
    )
    pulumi.export("customDomain", domain.domain_name)

pulumi.export("distributionDomainName", front_door.domain_name)
pulumi.export(
    "url",
    f"https://{domain.domain_name}"
    if domain
    else pulumi.Output.concat("https://", front_door.domain_name),
)
pulumi.export("distributionId", front_door.distribution_id)
pulumi.export("albDnsName", backend.alb_dns_name)
pulumi.export("autoScalingGroupName", backend.asg_name)
pulumi.export("alarmTopicArn", operations.alarm_topic_arn)
pulumi.export("dashboardUrl", operations.dashboard_url)
# What the smoke check probes: the built-in service's body, or your app's health check.
pulumi.export("builtinService", settings.backend.app.builtin)
pulumi.export(
    "healthCheckUrl",
    f"https://{domain.domain_name}{settings.backend.health_check_path}"
    if domain
    else pulumi.Output.concat(
        "https://", front_door.domain_name, settings.backend.health_check_path
    ),
)
