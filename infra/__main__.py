"""The Pulumi program: read and validate the stack config, declare the platform, export its outputs."""

import pulumi

from infra.config import ConfigError, load_stack_config
from infra.deployment import deploy

try:
    stack_config = load_stack_config(pulumi.get_stack())
except ConfigError as error:
    # A RunError is reported without a Python traceback: the message names the key, the stack, the fix.
    raise pulumi.RunError(str(error)) from None

for output_name, value in deploy(stack_config, pulumi.get_stack()).items():
    pulumi.export(output_name, value)
