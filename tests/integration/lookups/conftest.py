"""The claims' in-process world (simulator in a thread, actors run as the worker would)
drives the entry and claim changes the lookups' Redis copies must follow."""

from tests.integration.claims.conftest import World, world  # noqa: F401
