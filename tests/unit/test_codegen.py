"""The committed gRPC stubs are what the .proto files generate today."""

from __future__ import annotations

import pytest

from app.bridge import codegen


def test_committed_stubs_are_current() -> None:
    pytest.importorskip("grpc_tools")
    assert codegen.main(["--check"]) == 0, "run `make proto` and commit the stubs"
