"""``dict-connect dev``, piece by piece: what it prints about its servers, when it falls
back to embedded ones, what it says when it cannot, and the order it stops things in."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest

from app import dev


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/test"),
        ("postgresql://app:s3cr3t@db:5432/dict", "postgresql://app:***@db:5432/dict"),
        ("postgresql://app:p%40ss:word@db/dict", "postgresql://app:***@db/dict"),
        (
            "postgresql://db/dict?user=app&password=s3cr3t&sslmode=require",
            "postgresql://db/dict?user=app&password=***&sslmode=require",
        ),
        ("host=db user=app password=s3cr3t", "host=db user=app password=***"),
        ("redis://:s3cr3t@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://default:s3cr3t@cache:6380/1", "rediss://default:***@cache:6380/1"),
        ("redis://127.0.0.1:6379/9", "redis://127.0.0.1:6379/9"),
    ],
)
def test_printed_urls_never_show_a_password(url: str, shown: str) -> None:
    assert dev.redact(url) == shown
    assert "s3cr3t" not in dev.redact(url)


def test_a_configured_server_that_answers_is_used_without_a_word() -> None:
    env = {"DATABASE_URL": "postgresql://db/x"}
    assert dev.choose("DATABASE_URL", "PostgreSQL", env, lambda url: True) == (
        "postgresql://db/x",
        None,
    )


def test_nothing_configured_means_embedded_without_a_warning() -> None:
    assert dev.choose("REDIS_URL", "Redis", {}, lambda url: True) == (None, None)
    assert dev.choose("REDIS_URL", "Redis", {"REDIS_URL": ""}, lambda url: True) == (None, None)


def test_a_configured_server_that_does_not_answer_is_one_warning_line() -> None:
    env = {"DATABASE_URL": "postgresql://app:s3cr3t@db:5432/x"}
    url, warning = dev.choose("DATABASE_URL", "PostgreSQL", env, lambda url: False)
    assert url is None
    assert warning == (
        "warning: DATABASE_URL postgresql://app:***@db:5432/x did not answer; "
        "using an embedded PostgreSQL"
    )


def test_server_lines_name_the_origin_and_hide_passwords() -> None:
    line = dev.Server("PostgreSQL", "postgresql://app:s3cr3t@db/x", "DATABASE_URL").line()
    assert line == "PostgreSQL postgresql://app:***@db/x  (DATABASE_URL)"


def test_a_missing_local_extra_is_one_line_naming_the_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dev.importlib.util, "find_spec", lambda name: None)
    message = dev.missing_local(["PostgreSQL"])
    assert message is not None and "\n" not in message
    assert message.startswith("dict-connect dev: no PostgreSQL to use (DATABASE_URL")
    assert message.endswith("pip install 'dict-connect[local]'")
    both = dev.missing_local(["PostgreSQL", "Redis"])
    assert both is not None and "PostgreSQL or Redis" in both and "DATABASE_URL / REDIS_URL" in both
    assert dev.missing_local([]) is None


def test_the_local_extra_is_not_asked_for_when_it_is_installed() -> None:
    if not all(dev.importlib.util.find_spec(m) for m in dev.EMBEDDED_MODULES.values()):
        pytest.skip("the local extra is not installed")
    assert dev.missing_local(["PostgreSQL", "Redis"]) is None


def test_stop_order_puts_the_servers_last() -> None:
    started = ["redis", "postgres", "simulator", "api", "worker", "scheduler"]
    assert dev.stop_order(started) == [
        "api",
        "scheduler",
        "worker",
        "simulator",
        "redis",
        "postgres",
    ]
    assert dev.stop_order(["postgres", "simulator", "api"]) == ["api", "simulator", "postgres"]


def test_stop_all_stops_one_after_the_other_and_a_failure_is_one_line() -> None:
    stopped: list[str] = []
    said: list[str] = []

    def stop(name: str) -> None:
        stopped.append(name)
        if name == "worker":
            raise RuntimeError("it would not go")

    names = ["postgres", "redis", "scheduler", "worker", "api", "simulator"]
    order = dev.stop_all({n: functools.partial(stop, n) for n in names}, said.append)
    assert stopped == order == ["api", "scheduler", "worker", "simulator", "redis", "postgres"]
    assert said == [
        "stopping api, scheduler, worker, simulator, redis, postgres",
        "could not stop worker: it would not go",
    ]
    assert dev.stop_all({}, said.append) == [] and len(said) == 2


def test_stop_process_ends_a_process_that_ignores_sigterm() -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert stubborn.stdout is not None and stubborn.stdout.readline() == "ready\n"
    dev.stop_process(stubborn, timeout_s=0.5)
    assert stubborn.returncode == -9
    stubborn.stdout.close()
    dev.stop_process(stubborn)  # already gone: nothing to do


def test_stable_port_keeps_the_last_port_while_it_is_free(tmp_path: Path) -> None:
    path = tmp_path / "state" / "postgres.port"
    first = dev.stable_port(path)
    assert path.read_text() == f"{first}\n"
    assert dev.stable_port(path) == first
    path.write_text("not a port\n")
    assert dev.stable_port(path) != 0 and path.read_text() != "not a port\n"


def test_children_run_in_development_mode(tmp_path: Path) -> None:
    env = dev.child_env(
        {"DICT_CONNECT_ENV": "production"},
        state=tmp_path,
        db_url="postgresql://x",
        redis_url="redis://x",
        sim_port=1,
    )
    assert env["DICT_CONNECT_ENV"] == "dev"
