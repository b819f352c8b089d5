"""pulumi-docker 4.11 resources applied through the Docker Engine API, one module per resource kind.

Each kind's module holds the complete property table of its type (an input missing from it fails the
deploy by name), how the provider creates it, updates it in place where the provider can, and deletes it.
"""
