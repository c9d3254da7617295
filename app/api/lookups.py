"""/v1/lookups and /v1/keys/check: the DICT's getEntry and checkKeys for payments.

Unlike every other route, these answer from the DICT within the request: a payment
waits on them. They are ``async`` and never block a thread on the DICT, Redis or
(except to answer a key of ours) PostgreSQL; ``app.lookups.service`` runs them.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, MediaType, Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from app.api.auth import requires
from app.api.errors import NotFoundError, ValidationFailed
from app.domain import keys
from app.domain.lookups import E2E_PATTERN, key_type_of, parse_lookup
from app.lookups import service
from app.lookups.answers import CheckedKey, LookupAnswer, PaymentReported, SuspiciousPayer

CHECK_KEYS_MAX = 200
"""The DICT's checkKeys takes 1 to 200 keys."""


class KeysCheck(msgspec.Struct, forbid_unknown_fields=True):
    keys: list[str]
    use_cache: bool = True
    """Answer from what lookups learned within 30 days when possible (saves the DICT's
    KEYS_CHECK bucket, 70 calls a minute); false asks the DICT about every key."""


class KeysChecked(msgspec.Struct, frozen=True):
    keys: list[CheckedKey]


def _normalised(keys_in: list[str]) -> list[str]:
    if not 1 <= len(keys_in) <= CHECK_KEYS_MAX:
        message = f"between 1 and {CHECK_KEYS_MAX} keys"
        raise ValidationFailed([("keys", "count", message)])
    found, errors = [], []
    for i, key in enumerate(keys_in):
        key_type = key_type_of(key)
        if key_type is None:
            errors.append((f"keys[{i}]", "key_shape", "a CPF, CNPJ, +phone, e-mail or EVP key"))
            continue
        try:
            found.append(keys.normalize_key(key_type, key))
        except keys.ValidationError as exc:
            errors.extend((f"keys[{i}]", v.rule, v.message) for v in exc.violations)
    if errors:
        raise ValidationFailed(errors)
    return found


class LookupController(Controller):
    path = "/v1"
    tags = ["lookups"]

    @get(
        "/lookups/{key:str}",
        operation_id="lookupKey",
        guards=[requires("lookups:read")],
        summary="Look up a key before a payment (the DICT's getEntry)",
    )
    async def lookup(
        self,
        key: FromPath[str],
        payer_id: Annotated[str, QueryParameter(description="The payer's CPF or CNPJ, digits")],
        end_to_end_id: Annotated[
            str, QueryParameter(description="EndToEndId of the pacs.008 that will follow")
        ],
        include_statistics: Annotated[
            bool, QueryParameter(description="Add the owner's and the key's statistics")
        ] = False,
    ) -> LookupAnswer:
        """The key's account and owner as the DICT answers them; a key of ours answers
        ``book_transfer: true`` from our base without asking the DICT. 404 ``NotFound``
        when no entry has the key; 429 ``RateLimited`` with Retry-After when the payer's
        or our anti-scan bucket is empty (the DICT is not asked); 503 with Retry-After
        when the DICT cannot be reached."""
        request = parse_lookup(key, payer_id, end_to_end_id)
        answer = await service.service().lookup(request, include_statistics)
        if isinstance(answer, bytes):  # a cached answer, already JSON
            return Response(answer, media_type=MediaType.JSON)  # type: ignore[return-value]
        return answer

    @post(
        "/lookups/{end_to_end_id:str}/paid",
        operation_id="reportLookupPaid",
        guards=[requires("lookups:write")],
        status_code=200,
        summary="Report that the payment a lookup preceded was sent",
    )
    async def paid(self, end_to_end_id: FromPath[str]) -> PaymentReported:
        """Gives the lookup's anti-scan tokens back once, as the DICT does when the
        pacs.008 with that end-to-end id is sent: +1 (a natural person) or +2 (a legal
        person) to the payer, +1 to us. 404 when no lookup used this end-to-end id within
        LOOKUP_PAYMENT_WINDOW_S."""
        if not E2E_PATTERN.fullmatch(end_to_end_id):
            message = "the pacs.008 EndToEndId: E, ISPB, yyyyMMddHHmm and 11 letters or digits"
            raise ValidationFailed([("end_to_end_id", "end_to_end_id", message)])
        payment = await service.service().paid(end_to_end_id)
        if payment is None:
            raise NotFoundError("lookup with end-to-end id", end_to_end_id)
        return payment

    @get(
        "/suspicious-payers",
        operation_id="listSuspiciousPayers",
        guards=[requires("lookups:write")],
        summary="Payers whose lookups miss too often (possible key scanning)",
    )
    async def suspicious_payers(self) -> list[SuspiciousPayer]:
        """Payers whose misses passed 20 % of their lookups within the last 24 h: the
        BCB treats that as a sign of a read attack (manual §13.2). The alert
        DictLookupSuspiciousPayers fires while this list is not empty."""
        return await service.service().suspicious_payers()

    @post(
        "/keys/check",
        operation_id="checkKeys",
        guards=[requires("lookups:read")],
        status_code=200,
        summary="Which keys exist in the DICT (the DICT's checkKeys, internal use only)",
    )
    async def check_keys(self, data: JSONBody[KeysCheck]) -> KeysChecked:
        """For the bank's own use (batch payments, bucket planning), never to answer a
        customer (manual §16). Up to 200 keys."""
        normalised = _normalised(data.keys)
        return KeysChecked(await service.service().check_keys(normalised, data.use_cache))
