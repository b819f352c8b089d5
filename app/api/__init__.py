"""The HTTP API: dependencies, routers and their registration."""
