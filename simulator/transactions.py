"""The SPI's settled transactions, as far as the DICT needs them for infraction reports
and refund requests.

The DICT learns of every settlement from the SPI; the simulator has no SPI, so a test
registers transactions through SimulatorAdmin.AddTransaction (``dict-connect sim
add-transaction`` in the dev stack; the homologation's virtual payer registers its own).
An infraction report or a refund request names one by its E2E id (by the RtrId of a
pacs.004 for REFUND_CANCELLED): its payer, the debited PSP, is the only one that may
report it or ask for the money back, its payee the counterparty / contested PSP.
"""

from __future__ import annotations

import re

from app.domain import problems
from simulator.models import Transaction
from simulator.state import Simulator

TRANSACTION_ID = re.compile(r"\w{32}", re.ASCII)
"""OpenAPI v2.6.1 Refund.TransactionId and RefundTransactionId: pattern ``\\w{32}`` (the
whole value [inferred: an E2E id and an RtrId are exactly 32 characters])."""


def add(sim: Simulator, tx: Transaction, settled_given: bool) -> Transaction:
    """Record ``tx``; a repeat of one already recorded answers the first (``settled_given``
    False: the repeat left its settlement time to the simulator, so any time matches)."""
    known = sim.state.transactions.get(tx.end_to_end_id)
    if known is not None:
        same_time = not settled_given or known.settled_us == tx.settled_us
        if same_time and (known.payer, known.payee, known.amount_cents, known.pix_automatico) == (
            tx.payer,
            tx.payee,
            tx.amount_cents,
            tx.pix_automatico,
        ):
            return known
        raise problems.BadRequest(
            f"transaction {tx.end_to_end_id} is recorded otherwise",
            violations=[("end_to_end_id", "recorded_otherwise")],
        )
    sim.state.transactions[tx.end_to_end_id] = tx
    return tx


def settled(
    sim: Simulator,
    transaction_id: str,
    not_found: type[problems.DictProblem] = problems.RefundTransactionNotFound,
    not_settled: type[problems.DictProblem] = problems.RefundTransactionNotSettled,
) -> Transaction:
    """The settled transaction a refund request (or an infraction report: pass its
    problem types) names. Error table (v2.6.1): RefundTransactionNotFound ("A transação
    definida na solicitação de devolução não foi encontrada"), RefundTransactionNotSettled
    ("... não foi liquidada": recorded with a settlement time still to come); for a report
    InfractionReportTransactionNotFound and InfractionReportTransactionNotSettled ("A
    transação definida na notificação de infração não foi encontrada / liquidada")."""
    tx = sim.state.transactions.get(transaction_id)
    if tx is None:
        raise not_found(f"no settled transaction {transaction_id}")
    if tx.settled_us > sim.now_us():
        raise not_settled(f"transaction {transaction_id} is not settled")
    return tx


def listed(sim: Simulator) -> list[Transaction]:
    return sorted(sim.state.transactions.values(), key=lambda t: (t.settled_us, t.end_to_end_id))
