"""The claims' in-process world (simulator in a thread, actors run as the worker would)
serves sync runs too."""

from tests.integration.claims.conftest import World, world  # noqa: F401
