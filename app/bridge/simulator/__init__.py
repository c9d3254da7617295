"""The DICT simulator: a gRPC server implementing the whole DictBridge contract with
the DICT's semantics, plus SimulatorAdmin (clock, participants, faults, divergences).

Entry points: ``server.serve`` (blocking, ``dict-connect simulator``),
``server.start_in_thread`` (tests), ``admin_client.AdminClient`` and
``python -m app.bridge.simulator --host --port``.

Layout: ``boundary`` (the one place calls cross in: faults, participant, buckets,
problems -> gRPC status), ``routes`` (RPC -> operation and policy), one module per
area of the DICT (``entries``, ``claims``, ``sync``, ``infractions``, ``markers``,
``buckets``), the state they share (``state``, ``store``, ``synthetic``, ``ledger``).
The rules of entries and claims are ``entry_rules`` and ``claim_rules``, written from the
spec text and never imported from the connector (``app.domain.keys`` / ``.claims``): the
simulator is what every test trusts, so a wrong rule must not be shared with our code.
"""
