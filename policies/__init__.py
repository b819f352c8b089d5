"""The CrossGuard policy pack of the Presentation Analytics Platform (rules in `policies/rules`)."""
