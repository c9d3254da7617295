"""Small rules every service shares: the body's participant, list limits and lag."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.domain import problems
from simulator.config import Participant

if TYPE_CHECKING:
    from simulator.state import Simulator

KEY_TYPES = frozenset({"CPF", "CNPJ", "PHONE", "EMAIL", "EVP"})


def own(caller: Participant, participant: str) -> None:
    """A body's ``participant`` must be the requesting participant (the DICT checks
    the body against the certificate's ISPB)."""
    if participant != caller.ispb:
        raise problems.Forbidden("participant differs from the requesting participant")


def key_type(value: str) -> str:
    if value not in KEY_TYPES:
        raise problems.BadRequest(
            f"unknown key type {value!r}", violations=[("key_type", "one_of")]
        )
    return value


def limit(value: int, default: int, maximum: int) -> int:
    """A list's page size: ``default`` when unset. A Limit out of its schema ("minimum"
    1, "maximum" 200 or the list's own) is refused, not cut down: the DICT validates
    its query parameters against the schema (as ``infractions._page_size``)."""
    if value < 0:
        raise problems.BadRequest("limit must be positive", violations=[("limit", "min")])
    if value > maximum:
        raise problems.BadRequest(f"limit must be at most {maximum}", violations=[("limit", "max")])
    return value or default


def visible_until_us(sim: Simulator) -> int:
    """Lists lag writes: rows modified after this instant are not visible yet."""
    return sim.now_us() - round(sim.config.list_lag_seconds * 1_000_000)
