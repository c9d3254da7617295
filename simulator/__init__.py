"""The DICT simulator: a gRPC server implementing the whole DictBridge contract with
the DICT's semantics, plus SimulatorAdmin (clock, participants, faults, divergences).

A separate program, not part of the connector: of ``app`` it imports only the bridge
contract (``app.bridge.dict_bridge_pb2*`` and ``app.bridge.status``, the one
problem <-> gRPC status mapping) and ``app.domain``; its own admin contract is
``admin.proto`` (stubs ``admin_pb2*``). ``tests/unit/test_simulator_boundary.py``
holds it to that.

Entry points: ``server.serve`` (blocking, ``dict-connect simulator``),
``server.start_in_thread`` (tests), ``admin_client.AdminClient``,
``python -m simulator --host --port``, and ``ctl`` (``dict-connect sim``: a client of a
running simulator that plays the other participant and moves the dev clocks).

Layout: ``boundary`` (the one place calls cross in: faults, participant, buckets,
problems -> gRPC status), ``routes`` (RPC -> operation and policy), one module per
area of the DICT (``entries``, ``entry_statistics``, ``claims``, ``sync``,
``infractions``, ``markers``, ``refunds``, ``buckets``), the state they share (``state``,
``store``, ``synthetic``, ``ledger``, ``lookups``, and ``transactions``: the SPI's
settlements that refund requests name, registered through SimulatorAdmin).
The rules of entries and claims are ``entry_rules`` and ``claim_rules``, written from the
spec text and never imported from the connector (``app.domain.keys`` / ``.claims``): the
simulator is what every test trusts, so a wrong rule must not be shared with our code.
(``ctl`` takes only the names of claim types, statuses and reasons from
``app.domain.claims``, for its options.)
"""
