"""The fault suite runs the acceptance tests' stack: api, worker, simulator as processes."""

from tests.acceptance.conftest import stack

__all__ = ["stack"]
