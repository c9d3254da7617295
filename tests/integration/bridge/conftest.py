"""The simulator tests use the ``sim``, ``admin``, ``ours`` and ``theirs`` fixtures of
``tests/simulator_fixtures.py``: the simulator in-process, reset for each test. No
database or Redis is needed.
"""
