"""Entries (vínculos): create, get, update, delete, and checkKeys (which keys exist),
with the DICT's rules (DICT.md §1, §6).

The rules are ``entry_rules``, written from the spec text rather than shared with the
connector's ``app.domain.keys``: a rule both got wrong would otherwise pass every test.
This module applies them and adds what only the DICT can know: who holds a key, claims
that lock it, RequestIds already used, the key limit per account.
"""

from __future__ import annotations

import hashlib

from app.bridge import dict_bridge_pb2 as pb
from app.domain import problems
from simulator import buckets, entry_statistics
from simulator import entry_rules as rules
from simulator.config import Participant
from simulator.convert import new_uuid4, record_of, uuid_bytes, with_entry
from simulator.lookups import Lookup
from simulator.models import CLAIM_IN_PROGRESS, CLAIM_LOCKS_KEY
from simulator.records import EntryRecord, pack, unpack
from simulator.state import CreateMemo, Simulator


def validated_key(entry: pb.Entry, *, creating: bool) -> str | None:
    """The entry's key as sent (None: an EVP to generate), or ``EntryInvalid`` naming
    every violation. The DICT matches patterns on the value as sent: a key our service
    forgot to normalise (an upper-case e-mail) is refused, not silently fixed. A CPF/CNPJ
    key that is not its owner's tax id is ``EntryTaxIdNumberByDifferentOwner``."""
    found = rules.entry_violations(entry, creating=creating)
    if found:
        raise problems.EntryInvalid("the entry has invalid fields", violations=found)
    if rules.key_is_not_owners_tax_id(entry.key_type, entry.key, entry.owner):
        raise problems.EntryTaxIdNumberByDifferentOwner(
            f"a {entry.key_type} key is its owner's own tax id"
        )
    return entry.key or None


def new_record(
    entry: pb.Entry, request_id: str | None, now_us: int, *, put: bool = False
) -> EntryRecord:
    """A validated record for a new entry: an EVP key is generated, except that the
    admin's PutEntry may give one (to recreate a key the DICT generated)."""
    key = validated_key(entry, creating=not (put and entry.key_type == "EVP" and entry.key))
    raw = uuid_bytes(new_uuid4() if request_id is None else request_id)
    if raw is None:
        raise problems.EntryInvalid(
            "RequestId must be a UUID", violations=[("request_id", "pattern")]
        )
    return record_of(entry, key or new_uuid4(), raw, now_us)


def open_claim_us(sim: Simulator, key: str) -> int | None:
    claim_id = sim.state.open_claims.get(key)
    return sim.state.claims[claim_id].created_us if claim_id else None


def _claim_status(sim: Simulator, key: str) -> str | None:
    claim_id = sim.state.open_claims.get(key)
    return sim.state.claims[claim_id].status if claim_id else None


def check_key_limit(sim: Simulator, record: EntryRecord) -> None:
    if not sim.config.key_limits_enabled:
        return
    limit = rules.KEY_LIMIT.get(record.owner_type, 20)
    if sim.state.store.account_count(record.account) >= limit:
        raise problems.EntryLimitExceeded(f"the account already has {limit} keys")


def _conflict(existing: EntryRecord, caller: str, tax_id: str) -> problems.DictProblem:
    same_psp, same_owner = existing.participant == caller, existing.tax_id == tax_id
    if same_psp and same_owner:
        return problems.EntryAlreadyExists("the key is already registered to this owner here")
    if same_owner:
        return problems.EntryKeyInCustodyOfDifferentParticipant(
            "the owner holds the key at another participant: claim its portability"
        )
    return problems.EntryKeyOwnedByDifferentPerson(
        "another person holds the key: claim its ownership"
    )


def create(
    sim: Simulator, caller: Participant, req: pb.CreateEntryRequest
) -> pb.CreateEntryResponse:
    """Checks in the order a request is read: its reason, its fields (schema), who
    sends it, then what the DICT holds (RequestIds, claims, the key, the account)."""
    if req.reason not in rules.CREATE_REASONS:
        raise problems.InvalidReason(f"reason {req.reason!r} cannot create an entry")
    now = sim.now_us()
    record = new_record(req.entry, req.request_id, now)
    if record.participant != caller.ispb:
        raise problems.Forbidden("an entry's account must be at the requesting participant")
    memo_key = f"{caller.ispb}:{req.request_id.lower()}"
    fingerprint = hashlib.blake2b(
        req.entry.SerializeToString(deterministic=True) + req.reason.encode(), digest_size=16
    ).digest()
    memo = sim.state.creates.get(memo_key)
    if memo is not None:
        if memo.fingerprint != fingerprint:
            raise problems.RequestIdAlreadyUsed("this RequestId created a different entry")
        return with_entry(pb.CreateEntryResponse, unpack(memo.record))
    if _claim_status(sim, record.key) in CLAIM_IN_PROGRESS:
        raise problems.EntryLockedByClaim("a claim is in progress on this key")
    existing = sim.state.store.get(record.key)
    if existing is not None:
        raise _conflict(existing, caller.ispb, record.tax_id)
    check_key_limit(sim, record)
    sim.activate(record, now)
    sim.state.creates[memo_key] = CreateMemo(fingerprint, pack(record))
    sim.state.counters.entry_created(req.request_id)
    return with_entry(pb.CreateEntryResponse, record)


def get(sim: Simulator, caller: Participant, req: pb.GetEntryRequest) -> pb.GetEntryResponse:
    """A lookup needs PI-PayerId and PI-EndToEndId (BadRequest without them); a key the
    requesting participant holds itself is a book transfer, never looked up. Lookups
    charge the anti-scan buckets by outcome: a miss costs more (DICT.md §4), and a charged
    lookup is remembered by its E2E id until its payment credits them back (``lookups``).
    Statistics come only when asked for (IncludeStatistics)."""
    found = rules.lookup_violations(req.payer_id, req.end_to_end_id)
    if found:
        raise problems.BadRequest("PI-PayerId and PI-EndToEndId are mandatory", violations=found)
    limiter = sim.buckets
    user_policy = buckets.user_antiscan(req.key)
    ticket = limiter.admit(caller, buckets.PARTICIPANT_ANTISCAN)
    user_ticket = limiter.admit_user(caller, req.payer_id, user_policy)
    record = sim.state.store.get(req.key)
    if record is not None and record.participant == caller.ispb:
        raise problems.EntryCannotBeQueriedForBookTransfer(
            "the key is held by the requesting participant: pay it internally"
        )
    participant_cost, user_cost = rules.LOOKUP_COST["missing" if record is None else "found"]
    limiter.settle(ticket, participant_cost)
    limiter.settle(user_ticket, user_cost)
    owner = "" if record is None else record.tax_id
    lookup = Lookup(caller.ispb, req.payer_id, user_policy, req.key, owner)
    sim.state.lookups.remember(req.end_to_end_id, lookup)
    if record is None:
        raise problems.NotFound("no active entry has this key")
    out = with_entry(pb.GetEntryResponse, record, open_claim_us(sim, req.key))
    out.cache_max_age_seconds = cache_max_age(sim, record)
    if req.include_statistics:
        entry_statistics.attach(sim, record, out)
    return out


def cache_max_age(sim: Simulator, record: EntryRecord) -> int:
    """The answer's Cache-Control max-age: manual §12 lets a PSP cache lookups of keys of
    LEGAL_PERSON owners, up to 180 s; others carry 0, not to be cached [inferred: the
    manual allows caching for legal persons only; the header the DICT sends for a natural
    person's key is not in the spec]."""
    if record.owner_type == "LEGAL_PERSON":
        return sim.config.legal_person_cache_max_age_seconds
    return 0


def update(
    sim: Simulator, caller: Participant, req: pb.UpdateEntryRequest
) -> pb.UpdateEntryResponse:
    """Only account data, Name and TradeName change; the CID is recomputed with the
    creating RequestId (DICT.md §3) and the change is REMOVED old + ADDED new. The
    reasons depend on the key type: an EVP key takes RFB_VALIDATION only (v2.6.1)."""
    if req.reason not in rules.ANY_UPDATE_REASON:
        raise problems.InvalidReason(f"reason {req.reason!r} cannot update an entry")
    old = sim.state.store.get(req.key)
    if old is None:
        raise problems.NotFound("no active entry has this key")
    if old.participant != caller.ispb:
        raise problems.Forbidden("only the participant holding the key updates it")
    if req.reason not in rules.UPDATE_REASONS[old.key_type]:
        raise problems.InvalidReason(f"reason {req.reason!r} cannot update a {old.key_type} key")
    entry = pb.Entry(
        key_type=old.key_type,
        key=old.key,
        account=req.account,
        owner=pb.Owner(
            type=old.owner_type, tax_id_number=old.tax_id, name=req.name, trade_name=req.trade_name
        ),
    )
    validated_key(entry, creating=False)
    if req.account.participant != caller.ispb:
        raise problems.Forbidden("the key stays at the participant holding it")
    now = sim.now_us()
    new = record_of(entry, old.key, old.request_id, old.created_us)
    new.owned_us = old.owned_us
    if new.account != old.account:
        check_key_limit(sim, new)
    if _same_data(old, new):
        return with_entry(pb.UpdateEntryResponse, old, open_claim_us(sim, old.key))
    sim.deactivate(old.key, now)
    sim.activate(new, now)
    return with_entry(pb.UpdateEntryResponse, new, open_claim_us(sim, new.key))


def _same_data(a: EntryRecord, b: EntryRecord) -> bool:
    return (a.account, a.opening_us, a.name, a.trade_name) == (
        b.account,
        b.opening_us,
        b.name,
        b.trade_name,
    )


def delete(
    sim: Simulator, caller: Participant, req: pb.DeleteEntryRequest
) -> pb.DeleteEntryResponse:
    if req.reason not in rules.DELETE_REASONS:
        raise problems.InvalidReason(f"reason {req.reason!r} cannot delete an entry")
    if req.participant != caller.ispb:
        raise problems.Forbidden("participant must be the requesting participant")
    record = sim.state.store.get(req.key)
    if record is None:
        raise problems.NotFound("no active entry has this key")
    if record.participant != caller.ispb:
        raise problems.Forbidden("only the participant holding the key deletes it")
    if _claim_status(sim, req.key) in CLAIM_LOCKS_KEY:
        raise problems.EntryLockedByClaim("a claim is open on this key")
    sim.deactivate(req.key, sim.now_us())
    return pb.DeleteEntryResponse(key=req.key)


def check_keys(
    sim: Simulator, caller: Participant, req: pb.CheckKeysRequest
) -> pb.CheckKeysResponse:
    """Which of 1..200 keys an entry holds, at any participant (the caller's own keys
    too: this is no lookup for a payment). Each key is answered as sent, in the
    request's order. A malformed request is ``BadRequest`` naming every violation."""
    keys = list(req.keys)
    found = rules.check_keys_violations(keys)
    if found:
        raise problems.BadRequest("the keys to check are invalid", violations=found)
    store = sim.state.store
    return pb.CheckKeysResponse(keys=[pb.ExtendedKey(key=k, has_entry=store.has(k)) for k in keys])
