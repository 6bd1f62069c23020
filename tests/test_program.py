"""The whole program, run per stack file exactly as `pulumi up` would run it."""

from __future__ import annotations

from tests.harness import run_main, stack_config


def test_each_stack_builds_its_network(stack_name: str) -> None:
    config = stack_config(stack_name)
    run = run_main(config, stack=stack_name)

    zone_count = int(config["cdn-alb-backend:azCount"])
    vpc = run.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == config["cdn-alb-backend:vpcCidr"]
    assert len(run.of_type("aws:ec2/subnet:Subnet")) == 2 * zone_count
