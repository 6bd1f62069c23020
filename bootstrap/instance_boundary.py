"""InstanceRoleBoundary: the managed policy that caps every instance role the deploy roles create.

The deploy roles may create the program's instance role and write its policies, but only with
this boundary on it (bootstrap/policies.py, INSTANCE_ROLE_WITHIN_BOUNDARY), and may never edit
or remove the boundary. So whatever they write, an instance role can do no more than the
boundary allows, and nothing at all for a caller that is not an EC2 instance.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from bootstrap import policies

INSTANCE_ROLE_BOUNDARY = "cdn-alb-backend-bootstrap:boundary:InstanceRoleBoundary"


class InstanceRoleBoundary(pulumi.ComponentResource):
    name: str  # the policy's name: the main program's `instanceRoleBoundary` config value
    arn: pulumi.Output[str]

    def __init__(
        self, name: str, context: policies.Context, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(INSTANCE_ROLE_BOUNDARY, name, None, opts)
        policy = aws.iam.Policy(
            f"{name}-policy",
            # A fixed name: the deploy roles' policies and the stacks' config refer to it.
            name=policies.INSTANCE_ROLE_BOUNDARY,
            description=f"Permissions boundary of every {policies.MAIN_PROJECT} instance role",
            policy=json.dumps(policies.instance_boundary(context)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = policies.INSTANCE_ROLE_BOUNDARY
        self.arn = policy.arn
        self.register_outputs({"name": self.name, "arn": self.arn})
