"""What the Pulumi engine runs (`python -m pulumi.policy <engine> .` in this directory): builds the pack.

Constructing the PolicyPack starts the gRPC Analyzer server, prints its port and serves until killed. The
engine puts this directory first on sys.path, hence the top-level `rules` import.
"""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import PACK_NAME, all_policies

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=all_policies(),
)
