"""Lookups awaiting their payment: what each GetEntry drew on, by its PI-EndToEndId, so
that the payment order carrying that id gives the tokens back (DICT.md §4 "getEntry
counting"; OpenAPI v2.6.1 info.description "Regras de contagem": "ordem de pagamento
enviada: adiciona 1 ... PF / 2 ... PJ", and +1 to ENTRIES_READ_PARTICIPANT_ANTISCAN).

Credited once per payment and requesting participant: manual §13.1 credits "o balde do
participante que está prestando serviço de iniciação e o balde do participante pagador,
caso este tenha feito uma consulta de chave utilizando o mesmo código EndToEndID", so
each participant that looked up with the id is credited, once however many lookups it
made [inferred: the credit is per payment order; the manual's "1 ficha por consulta"
could be read per lookup, which would make repeated lookups free].

The simulator has no SPI: SettlePayment (admin) says when the pacs.008 was sent. The
lookup also says which key and owner the payment paid, the only way the simulator can
tie an infraction report's TransactionId to them (``infractions``).
"""

from __future__ import annotations

from collections import deque

import msgspec

REMEMBERED = 1_000_000
"""E2E ids kept, the oldest forgotten first (~0.5 KB each): a payment follows its lookup
within seconds, so only a run of a million lookups without payment forgets one [inferred]."""


class Lookup(msgspec.Struct, gc=False):
    """One charged lookup (found or 404): the buckets it drew on and what it found."""

    participant: str  # the requesting participant: its ENTRIES_READ_PARTICIPANT_ANTISCAN
    payer_id: str  # PI-PayerId: its user bucket, sized by its person type
    policy: str  # that bucket's policy: ENTRIES_READ_USER_ANTISCAN or _V2
    key: str
    owner: str  # the key's owner's tax id; "" when no entry held the key (404)


class Payment(msgspec.Struct, gc=False):
    """The lookups made with one E2E id: the latest of each requesting participant (the
    one whose answer the payment used [inferred])."""

    lookups: tuple[Lookup, ...]
    settled: bool = False


class Lookups:
    """E2E id -> its Payment, for the last ``capacity`` E2E ids looked up."""

    def __init__(self, capacity: int = REMEMBERED) -> None:
        self.capacity = capacity
        self._payments: dict[str, Payment] = {}
        self._order: deque[str] = deque()  # E2E ids, oldest first

    def remember(self, e2e: str, lookup: Lookup) -> None:
        """Keep ``lookup`` until its payment; a lookup after the payment changes nothing
        (that payment was already credited)."""
        payment = self._payments.get(e2e)
        if payment is None:
            self._payments[e2e] = Payment((lookup,))
            self._order.append(e2e)
            if len(self._order) > self.capacity:
                del self._payments[self._order.popleft()]
        elif not payment.settled:
            others = tuple(x for x in payment.lookups if x.participant != lookup.participant)
            payment.lookups = (*others, lookup)

    def settle(self, e2e: str) -> tuple[Lookup, ...]:
        """The lookups to credit now that the payment of ``e2e`` was sent: each once, so
        none for an id already settled (or never looked up, or forgotten)."""
        payment = self._payments.get(e2e)
        if payment is None or payment.settled:
            return ()
        payment.settled = True
        return payment.lookups

    def made_by(self, e2e: str, participant: str) -> Lookup | None:
        """``participant``'s lookup with ``e2e``, settled or not."""
        payment = self._payments.get(e2e)
        if payment is None:
            return None
        return next((x for x in payment.lookups if x.participant == participant), None)
