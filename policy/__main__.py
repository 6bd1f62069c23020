"""The policy pack the Pulumi CLI runs for `pulumi preview|up --policy-pack policy`.

Importing this module serves the pack (PolicyPack blocks until the CLI stops it), so it holds
nothing else: the policies and their rules live in `policies.py`, where tests import them.
"""

from policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="cdn-alb-backend-guardrails",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=list(POLICIES),
)
