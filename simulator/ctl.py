"""``dict-connect sim``: play the other participant in the simulated DICT of the dev stack.

The simulator knows two participants: ours (12345678) and another PSP (87654321).
These commands make real DICT calls as the other PSP (``--as`` picks any participant),
so our running stack sees them the way it would see a real counterparty: by polling.

  dict-connect sim entry put --key +5561977770000 --tax-id 52998224725 --name "Maria da Silva"
  dict-connect sim claim open --key +5561988880000 --type OWNERSHIP \\
      --tax-id 11144477735 --name "Joana Pereira"
  dict-connect sim claim list
  dict-connect sim claim acknowledge|confirm|cancel|complete CLAIM_ID
  dict-connect sim advance 7d        # the simulator's clock and ours (every dev process)
  dict-connect sim settle E12345678202612031200abcdefghijk   # its pacs.008 was sent
  dict-connect sim add-transaction E12345678202612031200abcdefghijk   # the SPI settled it:
      # our customer paid the other PSP's 100.00, so we may report it or ask for it back
  dict-connect sim add-transaction E87654321202612031200abcdefghijk \\
      --payer 87654321 --payee 12345678 --amount 250.00   # theirs paid ours
  dict-connect sim report open E87654321202612031200abcdefghijk   # against us, on theirs
  dict-connect sim report acknowledge DICT_ID   # ours against them (its dict_id), then:
  dict-connect sim report close DICT_ID --result AGREED --fraud-type SCAMMER_ACCOUNT
  dict-connect sim report cancel DICT_ID        # one of theirs
  dict-connect sim refund open E87654321202612031200abcdefghijk --amount 100.00 \\
      --reason OPERATIONAL_FLAW --details "sent twice"   # they ask us for it back
  dict-connect sim refund close DICT_ID --result TOTALLY_ACCEPTED \\
      --refund-transaction-id D8765432120261203150000000000001   # they return ours
  dict-connect sim refund cancel DICT_ID
  dict-connect sim virtual-payer-refunds   # homologation step 7: the virtual payer PSP
      # 99999003 pays our customer twice and asks for both back (OPERATIONAL_FLAW, FRAUD)
  dict-connect sim clock | calls | participants

The simulator is at BRIDGE_ADDRESS (default 127.0.0.1:15051) unless --simulator says.
Like the simulator, this program uses only the bridge contract (``app.bridge``'s
stubs and status mapping) and ``app.domain``: it calls the simulator as any
participant would, and moves our clock through the file every dev process reads
(CLOCK_OFFSET_FILE: a number of seconds added to real time).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from app.bridge import dict_bridge_pb2 as pb
from app.bridge import dict_bridge_pb2_grpc as pb_grpc
from app.bridge.status import from_rpc_error
from app.domain import infractions, problems, refunds
from app.domain.claims import ClaimReason, ClaimStatus, ClaimType
from simulator.admin_client import AdminClient
from simulator.config import DEFAULT_PARTICIPANTS

OURS = DEFAULT_PARTICIPANTS[0][0]
"""Our participant in a dev simulator (PARTICIPANT_ISPB, when set, says otherwise)."""
OTHER = DEFAULT_PARTICIPANTS[1][0]
"""The other PSP of a dev simulator: the one these commands act as by default."""
DEFAULT_ADDRESS = "127.0.0.1:15051"
"""Where ``dict-connect dev`` and ``dict-connect simulator`` serve, unless BRIDGE_ADDRESS."""
PARTICIPANT_METADATA = "pi-requesting-participant"
"""The DICT's PI-RequestingParticipant header, as the bridge contract carries it."""
DEV_CLOCK_FILE = Path(".dict-connect") / "clock-offset"
"""Where ``dict-connect dev`` (default --state-dir) keeps our processes' clock offset."""
OPENED = "2020-03-01T03:00:00Z"
UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
REASONS = [r.value for r in ClaimReason]


@dataclass
class Out:
    """What a command prints: ``lines`` for people, ``data`` with --json."""

    data: Any
    lines: list[str]


class Refused(Exception):
    """A one-line error of ours (not the DICT's), e.g. no clock file to move."""


def duration(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``90s``, ``1d12h`` or plain seconds -> seconds (> 0)."""
    t = text.strip().lower()
    parts = re.findall(r"(\d+(?:\.\d+)?)([dhms])", t)
    if re.fullmatch(r"\d+(?:\.\d+)?", t):
        seconds = float(t)
    elif parts and "".join(n + u for n, u in parts) == t:
        seconds = sum(float(n) * UNITS[u] for n, u in parts)
    else:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 7d, 12h, 30m, 90s")
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the clocks only move forward")
    return seconds


def _instant(text: str) -> str:
    try:
        Timestamp().FromJsonString(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not like {OPENED}") from None
    return text


def _ispb(text: str) -> str:
    if not re.fullmatch(r"\d{8}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISPB (8 digits)")
    return text


def key_type_of(key: str) -> str:
    """The key type a key looks like (the DICT refuses a wrong guess: --key-type)."""
    if key.startswith("+"):
        return "PHONE"
    if "@" in key:
        return "EMAIL"
    return {11: "CPF", 14: "CNPJ"}.get(len(key) if key.isdigit() else 0, "PHONE")


def span(seconds: float) -> str:
    """+7d, -1d12h30m, +0s."""
    left, parts = round(abs(seconds)), []
    for unit, size in UNITS.items():
        n, left = divmod(left, size)
        parts.append(f"{n}{unit}" if n else "")
    return ("-" if seconds < 0 else "+") + ("".join(parts) or "0s")


def _when(stamp: Timestamp) -> str:
    return stamp.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _dict_of(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def _account_text(a: pb.Account) -> str:
    return f"{a.participant} branch {a.branch or '-'} account {a.account_number} {a.account_type}"


def _owner_text(o: pb.Owner) -> str:
    return f"{o.type} {o.tax_id_number} {o.name}" + (f" ({o.trade_name})" if o.trade_name else "")


def claim_lines(c: pb.Claim) -> list[str]:
    lines = [
        f"claim {c.id}  {c.type}  {c.status}",
        f"  key        {c.key_type} {c.key}",
        f"  donor      {c.donor_participant}",
        f"  claimer    {_owner_text(c.claimer)}, {_account_text(c.claimer_account)}",
        f"  resolution period ends  {_when(c.resolution_period_end)}",
    ]
    if c.HasField("completion_period_end"):
        lines.append(f"  completion period ends  {_when(c.completion_period_end)}")
    lines.append(f"  last modified           {_when(c.last_modified)}")
    if c.confirm_reason:
        lines.append(f"  confirmed with {c.confirm_reason}")
    if c.cancel_reason:
        lines.append(f"  cancelled by {c.cancelled_by} with {c.cancel_reason}")
    return lines


def _claim_row(c: pb.Claim) -> str:
    return (
        f"{c.id}  {c.status:<18}  {c.type:<11}  {c.key_type} {c.key}  "
        f"donor {c.donor_participant}  claimer {c.claimer_account.participant}  "
        f"resolution ends {_when(c.resolution_period_end)}"
    )


class Participant:
    """DictBridge calls as one participant: ``call("CreateEntry", request)``.

    A refusal raises the DICT's problem (``app.domain.problems``), a simulator that
    does not answer ``BridgeUnavailable``: the contract's own mapping (``app.bridge.status``).
    """

    def __init__(self, address: str, ispb: str, *, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._metadata = ((PARTICIPANT_METADATA, ispb),)
        self._channel = grpc.insecure_channel(address)
        self._stub = pb_grpc.DictBridgeStub(self._channel)

    def __enter__(self) -> Participant:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._channel.close()

    def call(self, rpc: str, request: Message) -> Any:
        try:
            return getattr(self._stub, rpc)(
                request, timeout=self.timeout_s, metadata=self._metadata
            )
        except grpc.RpcError as err:
            raise from_rpc_error(err) from err


def _address(args: argparse.Namespace) -> str:
    return str(args.simulator or os.environ.get("BRIDGE_ADDRESS") or DEFAULT_ADDRESS)


def _dict(args: argparse.Namespace) -> Participant:
    return Participant(_address(args), args.as_)


def _admin(args: argparse.Namespace) -> AdminClient:
    return AdminClient(_address(args), timeout_s=10)


def _account(args: argparse.Namespace) -> pb.Account:
    a = pb.Account(participant=args.as_, branch=args.branch, account_number=args.account)
    a.account_type = args.account_type
    a.opening_date.FromJsonString(args.opened)
    return a


def _owner(args: argparse.Namespace) -> pb.Owner:
    kind = "LEGAL_PERSON" if len(args.tax_id) == 14 else "NATURAL_PERSON"
    o = pb.Owner(type=kind, tax_id_number=args.tax_id, name=args.name)
    o.trade_name = args.trade_name or ""
    return o


def entry_put(args: argparse.Namespace) -> Out:
    request_id = str(uuid.uuid4())
    entry = pb.Entry(
        key_type=args.key_type or key_type_of(args.key),
        key=args.key,
        account=_account(args),
        owner=_owner(args),
    )
    request = pb.CreateEntryRequest(entry=entry, reason="USER_REQUESTED", request_id=request_id)
    with _dict(args) as client:
        got = client.call("CreateEntry", request).entry
    e = got.entry
    return Out(
        {**_dict_of(got), "request_id": request_id},
        [
            f"{args.as_} registered {e.key_type} {e.key}  (RequestId {request_id})",
            f"  owner    {_owner_text(e.owner)}",
            f"  account  {_account_text(e.account)}",
            f"  created  {_when(got.creation_date)}",
        ],
    )


def entry_delete(args: argparse.Namespace) -> Out:
    request = pb.DeleteEntryRequest(key=args.key, participant=args.as_, reason=args.reason)
    with _dict(args) as client:
        client.call("DeleteEntry", request)
    return Out({"key": args.key, "deleted": True}, [f"{args.as_} deleted {args.key}"])


def claim_open(args: argparse.Namespace) -> Out:
    request = pb.CreateClaimRequest(
        type=args.type,
        key=args.key,
        key_type=args.key_type or key_type_of(args.key),
        claimer_account=_account(args),
        claimer=_owner(args),
    )
    with _dict(args) as client:
        c = client.call("CreateClaim", request).claim
    return Out(_dict_of(c), [f"{args.as_} opened a claim on {c.key}", *claim_lines(c)])


_ACTIONS: dict[str, tuple[str, type[Message], str]] = {
    "acknowledge": ("AcknowledgeClaim", pb.AcknowledgeClaimRequest, "acknowledged"),
    "confirm": ("ConfirmClaim", pb.ConfirmClaimRequest, "confirmed"),
    "cancel": ("CancelClaim", pb.CancelClaimRequest, "cancelled"),
    "complete": ("CompleteClaim", pb.CompleteClaimRequest, "completed"),
}


def claim_act(args: argparse.Namespace) -> Out:
    rpc, request_cls, done = _ACTIONS[args.operation]
    fields: dict[str, str] = {"claim_id": args.claim_id, "participant": args.as_}
    if args.operation in ("confirm", "cancel"):
        fields["reason"] = args.reason
    if args.operation == "complete":
        fields["request_id"] = args.request_id or str(uuid.uuid4())
    with _dict(args) as client:
        c = client.call(rpc, request_cls(**fields)).claim
    head = f"{args.as_} {done} claim {c.id}: now {c.status}"
    if "request_id" in fields:
        head += f"  (RequestId {fields['request_id']})"
    return Out({**_dict_of(c), **fields}, [head, *claim_lines(c)[1:]])


def claim_show(args: argparse.Namespace) -> Out:
    with _dict(args) as client:
        c = client.call("GetClaim", pb.GetClaimRequest(claim_id=args.claim_id)).claim
    return Out(_dict_of(c), claim_lines(c))


def claim_list(args: argparse.Namespace) -> Out:
    request = pb.ListClaimsRequest(participant=args.as_, status=args.status or [], limit=200)
    if args.role:
        request.is_donor = args.role == "donor"
        request.is_claimer = args.role == "claimer"
    with _dict(args) as client:
        page = client.call("ListClaims", request)
    lines = [_claim_row(c) for c in page.claims] or [f"no claims where {args.as_} is a party"]
    if page.has_more_elements:
        lines.append("... more: narrow it with --status or --role")
    return Out([_dict_of(c) for c in page.claims], lines)


def _report_tail(r: pb.InfractionReport) -> str:
    tail = f"transaction {r.transaction_id}"
    if r.analysis_result:
        tail += f", {r.analysis_result}"
    if r.fraud_marker_id:
        tail += f", fraud marker {r.fraud_marker_id}"
    return tail


def report_open(args: argparse.Namespace) -> Out:
    """The --as participant reports a transaction it paid (REFUND_REQUEST), or the pacs.004
    it returned (REFUND_CANCELLED, by its RtrId); the payee's PSP is the counterparty."""
    situation = args.situation or (
        "OTHER" if args.reason == infractions.Reason.REFUND_CANCELLED else "SCAM"
    )
    request = pb.CreateInfractionReportRequest(
        participant=args.as_,
        transaction_id=args.transaction_id,
        reason=args.reason,
        situation_type=situation,
        report_details=args.details or "",
        contact_information=pb.ContactInformation(email=args.email, phone=args.phone),
    )
    with _dict(args) as client:
        r = client.call("CreateInfractionReport", request).report
    line = (
        f"{r.reporter_participant} reported {r.counterparty_participant}: infraction report "
        f"{r.id} {r.reason} {r.situation_type} {r.status} (transaction {r.transaction_id})"
    )
    return Out(_dict_of(r), [line])


_REPORT_ACTIONS: dict[str, tuple[str, type[Message], str]] = {
    "acknowledge": (
        "AcknowledgeInfractionReport",
        pb.AcknowledgeInfractionReportRequest,
        "acknowledged",
    ),
    "close": ("CloseInfractionReport", pb.CloseInfractionReportRequest, "closed"),
    "cancel": ("CancelInfractionReport", pb.CancelInfractionReportRequest, "cancelled"),
}


def report_act(args: argparse.Namespace) -> Out:
    rpc, request_cls, done = _REPORT_ACTIONS[args.operation]
    fields: dict[str, str] = {"id": args.dict_id, "participant": args.as_}
    if args.operation == "close":
        fields["analysis_result"] = args.result
        fields["analysis_details"] = args.details or ""
        fields["fraud_type"] = args.fraud_type or ""
    with _dict(args) as client:
        r = client.call(rpc, request_cls(**fields)).report
    line = f"{args.as_} {done} infraction report {r.id}: now {r.status} ({_report_tail(r)})"
    return Out(_dict_of(r), [line])


def _refund_tail(r: pb.Refund) -> str:
    tail = f"transaction {r.transaction_id}"
    if r.analysis_result:
        tail += f", {r.analysis_result}"
    if r.refund_rejection_reason:
        tail += f" {r.refund_rejection_reason}"
    if r.refund_transaction_id:
        tail += f", refund transaction {r.refund_transaction_id}"
    return tail


def refund_open(args: argparse.Namespace) -> Out:
    """The --as participant, the payer's PSP of the transaction, asks its payee's for the
    amount back (FRAUD: after its REFUND_REQUEST report was closed AGREED)."""
    request = pb.CreateRefundRequest(
        participant=args.as_,
        transaction_id=args.transaction_id,
        refund_reason=args.reason,
        refund_amount=args.amount,
        refund_details=args.details or "",
    )
    with _dict(args) as client:
        r = client.call("CreateRefund", request).refund
    line = (
        f"{r.requesting_participant} asked {r.contested_participant} for {r.refund_amount} back:"
        f" refund {r.id} {r.refund_reason} {r.status} (transaction {r.transaction_id})"
    )
    return Out(_dict_of(r), [line])


_REFUND_ACTIONS: dict[str, tuple[str, type[Message], str]] = {
    "close": ("CloseRefund", pb.CloseRefundRequest, "closed"),
    "cancel": ("CancelRefund", pb.CancelRefundRequest, "cancelled"),
}


def refund_act(args: argparse.Namespace) -> Out:
    rpc, request_cls, done = _REFUND_ACTIONS[args.operation]
    fields: dict[str, str] = {"refund_id": args.dict_id, "participant": args.as_}
    if args.operation == "close":
        fields["refund_analysis_result"] = args.result
        fields["refund_analysis_details"] = args.details or ""
        fields["refund_rejection_reason"] = args.rejection_reason or ""
        fields["refund_transaction_id"] = args.refund_transaction_id or ""
        fields["refunded_amount"] = args.refunded_amount or ""
    with _dict(args) as client:
        r = client.call(rpc, request_cls(**fields)).refund
    line = f"{args.as_} {done} refund {r.id}: now {r.status} ({_refund_tail(r)})"
    return Out(_dict_of(r), [line])


def clock_path(args: argparse.Namespace) -> Path:
    return Path(args.clock_file or os.environ.get("CLOCK_OFFSET_FILE") or DEV_CLOCK_FILE)


def _our_offset(path: Path) -> float:
    try:
        return float(path.read_text().strip() or 0)
    except FileNotFoundError:
        return 0.0
    except ValueError as exc:
        raise Refused(f"{path} does not hold a number of seconds: {exc}") from None


def write_offset(path: Path, seconds: float) -> None:
    """Our processes' clock offset, replaced at once (as ``app.clock.set_file_offset``)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{seconds}\n")
    os.replace(tmp, path)


def advance(args: argparse.Namespace) -> Out:
    path = clock_path(args)
    if not path.parent.is_dir():
        raise Refused(
            f"no directory {path.parent} for our clock file {path}: run this where "
            "`dict-connect dev` runs, or pass --clock-file (or set CLOCK_OFFSET_FILE)"
        )
    ours = _our_offset(path) + args.duration
    with _admin(args) as admin:
        admin.advance_clock(args.duration)
    write_offset(path, ours)
    shown = show_clock(args)
    return Out(shown.data, [f"moved both clocks by {span(args.duration)}", *shown.lines])


def show_clock(args: argparse.Namespace) -> Out:
    path = clock_path(args)
    ours = _our_offset(path)
    with _admin(args) as admin:
        state = admin.get_clock()
    ours_now = (datetime.now(UTC) + timedelta(seconds=ours)).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        f"DICT  {_when(state.now)}  {span(state.offset_seconds):>10}  (simulator {_address(args)})",
        f"ours  {ours_now}  {span(ours):>10}  ({path}{'' if path.exists() else ', absent'})",
    ]
    if abs(state.offset_seconds - ours) >= 1:
        lines.append("the clocks disagree: `sim advance` moves both by the same amount")
    data = {
        "dict": {"now": state.now.ToJsonString(), "offset_seconds": state.offset_seconds},
        "ours": {"now": ours_now, "offset_seconds": ours, "file": str(path)},
    }
    return Out(data, lines)


def calls(args: argparse.Namespace) -> Out:
    with _admin(args) as admin:
        counts = admin.get_call_counts(args.request_id or "")
    which = f" with RequestId {args.request_id}" if args.request_id else ""
    lines = [f"calls the simulator saw{which}: {counts.total}"]
    lines += [f"  {name:<28} {n}" for name, n in sorted(counts.by_method.items())]
    if args.request_id:
        lines.append(f"entries created with it: {counts.entries_created}")
    return Out(_dict_of(counts), lines)


def settle(args: argparse.Namespace) -> Out:
    """The SPI's part, which the simulator lacks: the payment of a looked-up E2E id was
    sent, so the lookups made with it get their tokens back (once)."""
    with _admin(args) as admin:
        credited = admin.settle_payment(args.end_to_end_id)
    e2e = args.end_to_end_id
    line = (
        f"payment {e2e} sent: the buckets its lookups drew on were credited"
        if credited
        else f"nothing to credit for {e2e}: no lookup carried it, or it was settled already"
    )
    return Out({"end_to_end_id": e2e, "credited": credited}, [line])


def add_transaction(args: argparse.Namespace) -> Out:
    """The SPI's part, which the simulator lacks: a settled transaction (a pacs.008, or
    the pacs.004 a REFUND_CANCELLED names by its RtrId). The DICT refuses an infraction
    report or a refund request on a transaction the SPI never settled, and takes who may
    open one and against whom from it: its payer's PSP opens, its payee's is the other
    party. A repeat with the same data answers the first."""
    settled_at = None
    if args.settled_at:
        stamp = Timestamp()
        stamp.FromJsonString(args.settled_at)
        settled_at = stamp.ToDatetime(tzinfo=UTC)
    with _admin(args) as admin:
        tx = admin.add_transaction(
            args.end_to_end_id,
            args.payer,
            args.payee,
            args.amount,
            settled_at,
            pix_automatico=args.pix_automatico,
        )
    kind = " (Pix Automático)" if tx.pix_automatico else ""
    line = (
        f"transaction {tx.end_to_end_id}: {tx.payer_participant} paid {tx.payee_participant} "
        f"{tx.amount}{kind}, settled {_when(tx.settled_at)}"
    )
    return Out(_dict_of(tx), [line])


def virtual_payer_refunds(args: argparse.Namespace) -> Out:
    """The homologation's virtual payer PSP 99999003 (IN BCB 508, step 7): it pays the
    participant twice and asks for each payment back, for an operational flaw and for
    fraud (after an AGREED report it prepares itself). The participant's stack learns
    both requests from its refund poll and must close them."""
    with _admin(args) as admin:
        opened = admin.open_virtual_payer_refunds(args.participant, args.amount or "")
    lines = [
        f"{r.requesting_participant} asked {r.contested_participant} for {r.refund_amount} back:"
        f" refund {r.id} {r.refund_reason} {r.status} (transaction {r.transaction_id})"
        for r in opened
    ]
    return Out([_dict_of(r) for r in opened], lines)


def participants(args: argparse.Namespace) -> Out:
    with _admin(args) as admin:
        found = admin.list_participants()
    ours = os.environ.get("PARTICIPANT_ISPB") or OURS
    tag = {ours: "ours", OTHER: "the other PSP (the default --as)"}
    lines = [f"{p.ispb}  category {p.category}  {p.name or tag.get(p.ispb, '')}" for p in found]
    return Out([_dict_of(p) for p in found], lines)


# --- the parser --------------------------------------------------------------------------

AS_HELP = f"call as this participant (default {OTHER}, the other PSP)"
KEY_TYPES = ["PHONE", "EMAIL", "CPF", "CNPJ"]
CONTACT_EMAIL, CONTACT_PHONE = "med@outro.example", "+5511977776666"
"""The reporter's ContactInformation the DICT requires (Email and Phone), by default."""
_COMMON = argparse.ArgumentParser(add_help=False)
_COMMON.add_argument("--simulator", metavar="HOST:PORT", help="default: BRIDGE_ADDRESS")
_COMMON.add_argument("--json", action="store_true", help="print JSON instead of lines")
_AS = argparse.ArgumentParser(add_help=False)
_AS.add_argument("--as", dest="as_", metavar="ISPB", type=_ispb, default=OTHER, help=AS_HELP)
_CLOCK = argparse.ArgumentParser(add_help=False)
_CLOCK.add_argument("--clock-file", help=f"default: CLOCK_OFFSET_FILE, else {DEV_CLOCK_FILE}")


def _cmd(group: Any, name: str, fn: Callable[..., Out], text: str, *parents: Any) -> Any:
    """A command: ``--simulator`` and ``--json`` always, and the given parents."""
    p = group.add_parser(name, parents=[_COMMON, *parents], help=text, description=text)
    p.set_defaults(fn=fn)
    return p


def _holder(p: argparse.ArgumentParser, account: str) -> None:
    """The key, the person and the account at the --as participant."""
    p.add_argument("--key", required=True, help="+5561988880000, a@b.com, a CPF or a CNPJ")
    p.add_argument("--key-type", choices=KEY_TYPES, help="default: from the key")
    p.add_argument("--tax-id", required=True, help="CPF (11 digits) or CNPJ (14 digits)")
    p.add_argument("--name", required=True)
    p.add_argument("--trade-name", help="a company's trade name (CNPJ only)")
    p.add_argument("--account", default=account, help=f"account number (default {account})")
    p.add_argument("--branch", default="1", help="default 1")
    p.add_argument("--account-type", default="CACC", choices=["CACC", "SVGS", "SLRY", "TRAN"])
    p.add_argument("--opened", default=OPENED, type=_instant, help=f"default {OPENED}")


def _entry_commands(sub: Any) -> None:
    cmds = sub.add_parser("entry", help="keys held by a participant").add_subparsers(
        dest="subcommand", required=True, metavar="COMMAND"
    )
    _holder(_cmd(cmds, "put", entry_put, "register a key (CreateEntry as --as)", _AS), "4242")
    delete = _cmd(cmds, "delete", entry_delete, "remove a key (DeleteEntry as --as)", _AS)
    delete.add_argument("--key", required=True)
    delete.add_argument("--reason", default="USER_REQUESTED", help="default USER_REQUESTED")


_ACT_HELP = {
    "acknowledge": "donor: acknowledge (OPEN -> WAITING_RESOLUTION)",
    "confirm": "donor: confirm (WAITING_RESOLUTION -> CONFIRMED)",
    "cancel": "claimer or donor: cancel (the reasons allowed depend on role and status)",
    "complete": "claimer: complete (CONFIRMED -> COMPLETED) with a new RequestId",
}


def _claim_commands(sub: Any) -> None:
    cmds = sub.add_parser("claim", help="claims, as claimer or donor").add_subparsers(
        dest="subcommand", required=True, metavar="COMMAND"
    )
    opened = _cmd(cmds, "open", claim_open, "claim a key held elsewhere (e.g. ours)", _AS)
    opened.add_argument("--type", required=True, choices=[t.value for t in ClaimType])
    _holder(opened, "9001")
    for name, text in _ACT_HELP.items():
        act = _cmd(cmds, name, claim_act, text, _AS)
        act.add_argument("claim_id", metavar="CLAIM_ID")
        act.set_defaults(operation=name)
        if name in ("confirm", "cancel"):
            act.add_argument("--reason", default="USER_REQUESTED", choices=REASONS)
        if name == "complete":
            act.add_argument("--request-id", help="default: a new UUIDv4")
    show = _cmd(cmds, "show", claim_show, "one claim as the DICT holds it", _AS)
    show.add_argument("claim_id", metavar="CLAIM_ID")
    listed = _cmd(cmds, "list", claim_list, "claims where --as is donor or claimer", _AS)
    listed.add_argument("--status", nargs="+", choices=[s.value for s in ClaimStatus])
    listed.add_argument("--role", choices=["donor", "claimer"], help="default: either")


def _report_commands(sub: Any) -> None:
    cmds = sub.add_parser(
        "report", help="infraction reports, as reporter or counterparty"
    ).add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    opened = _cmd(
        cmds,
        "open",
        report_open,
        "the payer's PSP (--as) reports a settled transaction (CreateInfractionReport);"
        " its payee's PSP is the counterparty",
        _AS,
    )
    opened.add_argument(
        "transaction_id",
        metavar="TRANSACTION_ID",
        help="its E2E id (the pacs.004's RtrId for REFUND_CANCELLED): `sim add-transaction`",
    )
    opened.add_argument(
        "--reason",
        default=infractions.Reason.REFUND_REQUEST.value,
        choices=[r.value for r in infractions.Reason],
        help="default REFUND_REQUEST",
    )
    opened.add_argument(
        "--situation",
        choices=[s.value for s in infractions.SituationType],
        help="default SCAM (OTHER for REFUND_CANCELLED, which takes only OTHER)",
    )
    opened.add_argument("--details", help="ReportDetails (required with --situation OTHER)")
    opened.add_argument("--email", default=CONTACT_EMAIL, help=f"default {CONTACT_EMAIL}")
    opened.add_argument("--phone", default=CONTACT_PHONE, help=f"default {CONTACT_PHONE}")
    for name, text in _REPORT_HELP.items():
        act = _cmd(cmds, name, report_act, text, _AS)
        act.add_argument("dict_id", metavar="DICT_ID", help="the DICT's id of the report")
        act.set_defaults(operation=name)
    close = cmds.choices["close"]
    close.add_argument(
        "--result", required=True, choices=[r.value for r in infractions.AnalysisResult]
    )
    close.add_argument(
        "--fraud-type",
        choices=[f.value for f in infractions.FraudType],
        help="required with AGREED (the fraud marker the close registers)",
    )
    close.add_argument("--details", help="AnalysisDetails (required with --fraud-type OTHER)")


_REPORT_HELP = {
    "acknowledge": "counterparty: acknowledge (OPEN -> ACKNOWLEDGED)",
    "close": "counterparty: close with its analysis (ACKNOWLEDGED -> CLOSED)",
    "cancel": "reporter: cancel, at any time (a CLOSED AGREED one's fraud marker too)",
}


def _refund_commands(sub: Any) -> None:
    cmds = sub.add_parser(
        "refund", help="refund requests, as requesting or contested participant"
    ).add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    opened = _cmd(
        cmds,
        "open",
        refund_open,
        "the payer's PSP (--as) asks the payee's for a settled transaction's funds back"
        " (CreateRefund)",
        _AS,
    )
    opened.add_argument(
        "transaction_id", metavar="TRANSACTION_ID", help="its E2E id: `sim add-transaction`"
    )
    opened.add_argument("--amount", required=True, help="decimal, e.g. 100.00")
    opened.add_argument(
        "--reason",
        required=True,
        choices=[r.value for r in refunds.Reason],
        help="FRAUD follows an AGREED REFUND_REQUEST report of --as on the transaction",
    )
    opened.add_argument("--details", help="RefundDetails (required for OPERATIONAL_FLAW)")
    close = _cmd(
        cmds,
        "close",
        refund_act,
        "contested: close with its analysis (OPEN -> CLOSED)",
        _AS,
    )
    close.add_argument("dict_id", metavar="DICT_ID", help="the DICT's id of the request")
    close.set_defaults(operation="close")
    close.add_argument("--result", required=True, choices=[r.value for r in refunds.AnalysisResult])
    close.add_argument(
        "--refund-transaction-id",
        help="the pacs.004's RtrId, 32 characters (required when accepted)",
    )
    close.add_argument(
        "--rejection-reason",
        choices=[r.value for r in refunds.RejectionReason],
        help="required with REJECTED",
    )
    close.add_argument(
        "--refunded-amount",
        help="what a PARTIALLY_ACCEPTED close returned (the simulator's stand-in for the SPI)",
    )
    close.add_argument("--details", help="RefundAnalysisDetails (required with INVALID_REQUEST)")
    cancel = _cmd(cmds, "cancel", refund_act, "requesting: cancel while OPEN", _AS)
    cancel.add_argument("dict_id", metavar="DICT_ID", help="the DICT's id of the request")
    cancel.set_defaults(operation="cancel")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dict-connect sim",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _entry_commands(sub)
    _claim_commands(sub)
    _report_commands(sub)
    _refund_commands(sub)
    adv = _cmd(sub, "advance", advance, "move the simulator's clock and ours forward", _CLOCK)
    adv.add_argument("duration", type=duration, metavar="DURATION", help="7d, 12h, 30m, 90s")
    _cmd(sub, "clock", show_clock, "the simulator's clock and ours", _CLOCK)
    counted = _cmd(sub, "calls", calls, "calls the simulator saw, by method")
    counted.add_argument("--request-id", help="only calls carrying this RequestId")
    _cmd(sub, "participants", participants, "the participants the simulator knows")
    settled = _cmd(sub, "settle", settle, "a looked-up payment was sent: credit its lookups")
    settled.add_argument("end_to_end_id", metavar="E2E_ID", help="the lookups' PI-EndToEndId")
    _transaction_command(sub)
    _virtual_payer_command(sub)
    return p


def _virtual_payer_command(sub: Any) -> None:
    ours = os.environ.get("PARTICIPANT_ISPB") or OURS
    opened = _cmd(
        sub,
        "virtual-payer-refunds",
        virtual_payer_refunds,
        "homologation step 7: the virtual payer PSP 99999003 asks the participant for two"
        " refunds (OPERATIONAL_FLAW and FRAUD) to close",
    )
    opened.add_argument(
        "--participant",
        type=_ispb,
        default=ours,
        help=f"the participant asked (the payee's PSP; default {ours}, ours)",
    )
    opened.add_argument(
        "--amount", help="decimal, e.g. 250.00, of each payment (default: the simulator's 100.00)"
    )


def _transaction_command(sub: Any) -> None:
    ours = os.environ.get("PARTICIPANT_ISPB") or OURS
    added = _cmd(
        sub,
        "add-transaction",
        add_transaction,
        "the SPI settled a transaction: infraction reports and refund requests may name it",
    )
    added.add_argument(
        "end_to_end_id", metavar="E2E_ID", help="its E2E id (a pacs.004's RtrId), 32 characters"
    )
    added.add_argument(
        "--payer", type=_ispb, default=ours, help=f"the debited PSP (default {ours}, ours)"
    )
    added.add_argument(
        "--payee", type=_ispb, default=OTHER, help=f"the credited PSP (default {OTHER})"
    )
    added.add_argument("--amount", default="100.00", help="decimal, e.g. 100.00 (the default)")
    added.add_argument(
        "--settled-at", type=_instant, metavar="INSTANT", help=f"like {OPENED}; default: now"
    )
    added.add_argument("--pix-automatico", action="store_true", help="a Pix Automático payment")


def problem_line(problem: problems.DictProblem, address: str) -> str:
    line = f"{problem.type}: {problem.detail}" if problem.detail else problem.type
    if problem.violations:
        line += " [" + ", ".join(f"{f}: {r}" for f, r in problem.violations) + "]"
    if problem.type == "BridgeUnavailable":
        line += f" (is the simulator running at {address}? `make dev` starts one)"
    return line


def _emit(out: Out, as_json: bool) -> None:
    print(json.dumps(out.data, indent=2, default=str) if as_json else "\n".join(out.lines))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        out = args.fn(args)
    except problems.DictProblem as problem:
        print(f"dict-connect sim: {problem_line(problem, _address(args))}", file=sys.stderr)
        return 1
    except (Refused, OSError) as exc:
        print(f"dict-connect sim: {exc}", file=sys.stderr)
        return 1
    _emit(out, args.json)
    return 0
