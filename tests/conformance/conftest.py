"""The conformance suite runs against the simulator over gRPC through the real clients:
the ``sim``, ``admin``, ``ours`` and ``theirs`` fixtures of ``tests/simulator_fixtures.py``
(one server per session, the DICT reset for each test). No database or Redis is needed.
"""
