"""Key lookups before payments, end to end: API, Redis, bridge and the simulated DICT.

What a bank's payment flow relies on: the DICT's answer for another participant's key,
a 404 it can tell apart, our own keys answered as book transfers without asking the
DICT, the anti-scan buckets refusing here exactly when the DICT would (so it never
answers 429), payments giving tokens back, legal persons' answers cached no longer
than allowed, and a DICT outage answered fast with 503 and Retry-After.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time
from typing import Any

import httpx
import pytest
import redis as redis_lib

from app import db
from app.bridge import dict_bridge_pb2 as pb
from app.domain.fixtures import make_cnpj, make_cpf
from app.lookups import index
from tests.acceptance.conftest import OTHER_ISPB, OUR_ISPB, Stack, wait_until
from tests.acceptance.test_entries import entry_body, register
from tests.integration.bridge.builders import KEY_TYPES, entry

PF_PAYER = make_cpf(4242)
PJ_PAYER = make_cnpj(4242)
EVP_KEY = "6f1d2e3c-4b5a-4968-8776-a5b4c3d2e1f0"


def e2e(n: int) -> str:
    return f"E{OUR_ISPB}202612031200{n:011d}"


def theirs(stack: Stack, key_type: str, n: int = 1) -> pb.Entry:
    """An entry of the other participant, put straight into the DICT."""
    e = entry(key_type, n, participant=OTHER_ISPB)
    if key_type == "EVP":
        e.key = EVP_KEY
    stack.admin().put_entry(e)
    return e


def lookup(
    http: httpx.Client, key: str, n: int, payer: str = PF_PAYER, **params: Any
) -> httpx.Response:
    query = {"payer_id": payer, "end_to_end_id": e2e(n), **params}
    return http.get(f"/v1/lookups/{key}", params=query)


def dict_lookups(stack: Stack) -> int:
    return int(stack.admin().get_call_counts().by_method["GetEntry"])


def refresh_index(stack: Stack) -> None:
    """One tick of the lookup_index cron."""
    with db.connect(stack.database_url) as conn:
        index.refresh(conn, redis_lib.Redis.from_url(stack.redis_url))


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_each_key_type_is_answered_as_the_dict_has_it(stack: Stack, key_type: str) -> None:
    e = theirs(stack, key_type)
    with stack.http() as http:
        r = lookup(http, e.key, 1, include_statistics="true")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key"] == e.key and body["key_type"] == key_type
    assert body["account"]["participant"] == OTHER_ISPB
    assert body["account"]["account_number"] == e.account.account_number
    assert body["owner"]["tax_id"] == e.owner.tax_id_number
    assert body["source"] == "dict" and body["book_transfer"] is False
    assert body["correlation_id"] and body["creation_date"] and body["key_ownership_date"]
    assert body["owner_statistics"]["fraud_markers"]["mule_accounts"] == {
        "d90": 0,
        "m12": 0,
        "m60": 0,
    }


def test_a_missing_key_is_the_dicts_not_found(stack: Stack) -> None:
    with stack.http() as http:
        r = lookup(http, "+5511900000000", 1)
    assert r.status_code == 404, r.text
    assert r.json()["type"].endswith("/NotFound")


def test_bad_input_names_each_field(stack: Stack) -> None:
    with stack.http() as http:
        r = http.get("/v1/lookups/not-a-key", params={"payer_id": "123", "end_to_end_id": "x"})
        missing = http.get("/v1/lookups/+5511900000000", params={"payer_id": PF_PAYER})
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"key", "payer_id", "end_to_end_id"}
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"end_to_end_id"}
    assert dict_lookups(stack) == 0


def test_our_own_key_is_a_book_transfer_and_the_dict_is_not_asked(stack: Stack) -> None:
    with stack.http() as http:
        ids = register(http, [entry_body(0), entry_body(3)])  # a CPF key and an e-mail key
        wait_until(
            lambda: all(http.get(f"/v1/entries/{i}").json()["status"] == "active" for i in ids),
            what="our keys to be active",
        )
        first, second = (http.get(f"/v1/entries/{i}").json() for i in ids)
        refresh_index(stack)
        before = dict_lookups(stack)
        r = lookup(http, first["key"], 1)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["book_transfer"] is True and body["source"] == "own_base"
        assert body["entry_id"] == first["id"]
        assert body["account"]["participant"] == OUR_ISPB
        assert dict_lookups(stack) == before

        # Redis lost the index: lookups ask our base until the cron rebuilds it.
        redis_lib.Redis.from_url(stack.redis_url).flushdb()
        r = lookup(http, second["key"], 2)
        assert r.status_code == 200 and r.json()["book_transfer"] is True
        assert dict_lookups(stack) == before
        refresh_index(stack)
        assert lookup(http, second["key"], 3).json()["entry_id"] == second["id"]
        assert dict_lookups(stack) == before


def test_a_key_of_ours_the_index_has_not_learned_is_still_a_book_transfer(stack: Stack) -> None:
    refresh_index(stack)  # built, before the key exists
    with stack.http() as http:
        (entry_id,) = register(http, [entry_body(1)])
        wait_until(
            lambda: http.get(f"/v1/entries/{entry_id}").json()["status"] == "active",
            what="our key to be active",
        )
        key = http.get(f"/v1/entries/{entry_id}").json()["key"]
        r = lookup(http, key, 1)  # the DICT refuses (EntryCannotBeQueriedForBookTransfer)
        assert r.status_code == 200, r.text
        assert r.json()["book_transfer"] is True and r.json()["entry_id"] == entry_id
        asked = dict_lookups(stack)
        assert lookup(http, key, 2).json()["book_transfer"] is True
        assert dict_lookups(stack) == asked  # learned: not asked again


def test_misses_empty_the_payers_bucket_here_and_it_refills(stack: Stack) -> None:
    """A natural person holds 100 tokens and a miss costs 20 (DICT.md §4): the sixth
    miss is refused here, with the DICT's RateLimited and Retry-After, without asking
    the DICT; 30 s later (2 tokens a minute) one more lookup goes, and the DICT, which
    counts the same way, never had to refuse one."""
    with stack.http() as http:
        for n in range(5):
            assert lookup(http, f"+55119{n:08d}", n).status_code == 404
        asked = dict_lookups(stack)
        refused = lookup(http, "+5511988887777", 5)
        assert refused.status_code == 429, refused.text
        assert refused.json()["type"].endswith("/RateLimited")
        assert int(refused.headers["Retry-After"]) == 30
        assert dict_lookups(stack) == asked
        # another payer is not affected
        assert lookup(http, "+5511988887777", 6, payer=make_cpf(4343)).status_code == 404

        stack.advance(31)
        e = theirs(stack, "PHONE", 7)
        assert lookup(http, e.key, 7).status_code == 200
        assert lookup(http, e.key, 8).status_code == 429  # at 0 again: 1 found cost 1
    assert dict_lookups(stack) == asked + 2


def test_a_payer_missing_more_than_a_fifth_is_listed_and_counted(stack: Stack) -> None:
    """MO8 §13.2: a payer whose lookups miss over 20 % is suspicious (judged after
    LOOKUP_PAYER_MIN_LOOKUPS = 10). A legal person holds enough tokens for 10 misses."""
    e = theirs(stack, "PHONE", 1)
    with stack.http() as http:
        for n in range(8):
            assert lookup(http, e.key, n, payer=PJ_PAYER).status_code == 200
        for n in range(8, 11):  # the 10th lookup, 2 misses in 10: not yet (20 %)
            code = lookup(http, f"+55119{n:08d}", n, payer=PJ_PAYER).status_code
            assert code == 404
            listed = http.get("/v1/suspicious-payers").json()
            assert listed == [] if n < 10 else len(listed) == 1
        (flagged,) = http.get("/v1/suspicious-payers").json()
        assert (flagged["payer_id"], flagged["found"], flagged["missing"]) == (PJ_PAYER, 8, 3)
        metrics = http.get("/metrics").text
    assert "dict_lookup_suspicious_payers 1.0" in metrics
    assert 'dict_lookups_total{outcome="not_found"} 3.0' in metrics


def test_a_payment_gives_the_lookups_tokens_back_once(stack: Stack) -> None:
    e = theirs(stack, "EMAIL", 1)
    with stack.http() as http:
        for n in range(4):  # 100 -> 20
            assert lookup(http, f"nobody{n}@example.com", 100 + n).status_code == 404
        for n in range(20):  # 20 -> 0
            assert lookup(http, e.key, n).status_code == 200
        assert lookup(http, e.key, 20).status_code == 429

        paid = http.post(f"/v1/lookups/{e2e(0)}/paid")
        assert paid.status_code == 200, paid.text
        assert paid.json() == {"end_to_end_id": e2e(0), "lookups": 1, "credited": True}
        stack.admin().settle_payment(e2e(0))  # the DICT sees the pacs.008 too
        r = lookup(http, e.key, 21)
        assert r.status_code == 200, r.text  # the credit (+1) let one more through
        assert lookup(http, e.key, 22).status_code == 429

        again = http.post(f"/v1/lookups/{e2e(0)}/paid")
        assert again.status_code == 200 and again.json()["credited"] is False
        unknown = http.post(f"/v1/lookups/{e2e(999)}/paid")
        assert unknown.status_code == 404


def test_a_legal_persons_answer_is_cached_180_s_and_no_longer(stack: Stack) -> None:
    company_key = theirs(stack, "CNPJ", 1).key
    person_key = theirs(stack, "CPF", 2).key
    with stack.http() as http:
        assert lookup(http, company_key, 1).json()["source"] == "dict"
        asked = dict_lookups(stack)
        cached = lookup(http, company_key, 2)
        assert cached.status_code == 200 and cached.json()["source"] == "cache"
        assert cached.json()["owner"]["tax_id"] == company_key
        assert dict_lookups(stack) == asked

        assert lookup(http, person_key, 3).json()["source"] == "dict"
        assert lookup(http, person_key, 4).json()["source"] == "dict"  # never cached
        asked = dict_lookups(stack)

        stack.advance(179)
        assert lookup(http, company_key, 5).json()["source"] == "cache"
        stack.advance(2)
        assert lookup(http, company_key, 6).json()["source"] == "dict"
        assert dict_lookups(stack) == asked + 1


def test_check_keys_answers_from_the_dict_our_base_and_what_lookups_learned(
    stack: Stack,
) -> None:
    e = theirs(stack, "PHONE", 1)
    with stack.http() as http:
        (entry_id,) = register(http, [entry_body(3)])
        wait_until(
            lambda: http.get(f"/v1/entries/{entry_id}").json()["status"] == "active",
            what="our key to be active",
        )
        ours = http.get(f"/v1/entries/{entry_id}").json()["key"]
        refresh_index(stack)
        assert lookup(http, e.key, 1).status_code == 200
        r = http.post("/v1/keys/check", json={"keys": [e.key, ours, "+5511977776666"]})
        assert r.status_code == 200, r.text
        got = {k["key"]: (k["has_entry"], k["source"]) for k in r.json()["keys"]}
        assert got == {
            e.key: (True, "cache"),
            ours: (True, "own_base"),
            "+5511977776666": (False, "dict"),
        }
        fresh = http.post("/v1/keys/check", json={"keys": [e.key], "use_cache": False})
        assert fresh.json()["keys"][0]["source"] == "dict"
        too_many = http.post("/v1/keys/check", json={"keys": [e.key] * 201})
        bad = http.post("/v1/keys/check", json={"keys": [e.key, "nope"]})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "keys"
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "keys[1]"


def test_a_change_noted_for_a_key_drops_its_cached_answer(stack: Stack) -> None:
    """Our entry and claim changes note their key (triggers, tested in
    tests/integration/lookups); the cron then drops what is cached of it."""
    company_key = theirs(stack, "CNPJ", 5).key
    with stack.http() as http:
        assert lookup(http, company_key, 1).json()["source"] == "dict"
        assert lookup(http, company_key, 2).json()["source"] == "cache"
        with db.connect(stack.database_url) as conn:  # a claim on the key changed
            conn.execute(
                "INSERT INTO lookup_key_changes (key_hash, held)"
                " VALUES (sha256(convert_to(%s, 'UTF8')), NULL)",
                (company_key,),
            )
        refresh_index(stack)
        assert lookup(http, company_key, 3).json()["source"] == "dict"


def _threads(pid: int) -> list[str]:
    tasks = f"/proc/{pid}/task"
    names = []
    for t in os.listdir(tasks):
        with open(f"{tasks}/{t}/comm") as fh:
            names.append(fh.read().strip())
    return sorted(names)


def test_a_dict_outage_answers_503_fast_without_piling_up_threads(stack: Stack) -> None:
    e = theirs(stack, "PHONE", 1)
    sim = stack.procs["simulator"].popen
    api = stack.procs["api"].popen
    assert sim is not None and api is not None
    with stack.http() as http:
        assert lookup(http, e.key, 1).status_code == 200
        threads = _threads(api.pid)
        os.killpg(sim.pid, signal.SIGSTOP)  # the DICT hangs: every call meets its deadline
        try:
            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(50) as pool:
                answers = list(
                    pool.map(lambda n: lookup(http, e.key, 100 + n), range(50))  # type: ignore[arg-type]
                )
            took = time.monotonic() - started
            during = _threads(api.pid)
        finally:
            os.killpg(sim.pid, signal.SIGCONT)
        assert {a.status_code for a in answers} == {503}
        assert all(int(a.headers["Retry-After"]) >= 1 for a in answers)
        assert took < 10  # one 2 s deadline, then the breaker fails the rest fast
        from collections import Counter

        # Without the index of our keys (never built here) each lookup also asks our
        # base whether the key is ours: at most 4 threads do, whatever the burst.
        assert len(during) <= len(threads) + 4, Counter(during) - Counter(threads)
        wait_until(
            lambda: lookup(http, e.key, 200).status_code == 200,
            timeout=20,
            what="lookups to recover after the DICT came back",
        )
