"""``dict-connect``: one command, one subcommand per process (ARCHITECTURE.md, "Processes")."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.settings import ProbeSettings

SHUTDOWN_TIMEOUT_S = {"api": 20, "worker": 30, "scheduler": 10}
"""Seconds a process gives work in flight after SIGTERM (the chart's grace is this + 15)."""


def _migrate(args: argparse.Namespace) -> int:
    from app.migrate import migrate

    applied = migrate()
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from app.logging import configure_logging
    from app.security import pepper_problem

    if problem := pepper_problem():
        print(f"dict-connect api: {problem}", file=sys.stderr)
        return 2
    configure_logging("api")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several workers share their metrics
        from app.probes import multiprocess_dir

        multiprocess_dir()  # emptied of the files of an earlier run
    # On SIGTERM uvicorn closes its socket at once (no new connection), lets requests in
    # flight finish for up to --shutdown-timeout seconds, then cancels what is left.
    uvicorn.run(
        args.app,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=args.shutdown_timeout,
    )
    return 0


WORKER_QUEUES = ("dict", "default", "events", "poll", "cron")
"""Every queue an actor declares (``actors/``): tests/unit/test_queues.py keeps them equal."""


def worker_options(args: argparse.Namespace) -> list[str]:
    """Dramatiq's options for ``dict-connect worker``."""
    options = ["--processes", str(args.processes), "--threads", str(args.threads)]
    options += ["--worker-shutdown-timeout", str(args.shutdown_timeout * 1000)]  # ms
    if args.queues:  # only these queues' work (app.outbox.QUEUES says which actor is where)
        options += ["--queues", *args.queues]
    return options


def _worker(args: argparse.Namespace) -> int:
    # Dramatiq's main process, in this process: with JSON logging configured first,
    # Dramatiq's own logging.basicConfig does nothing; each worker process it starts
    # configures itself again on boot (actors.middleware.LoggingMiddleware).
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    from app import probes, settings
    from app.logging import configure_logging

    configure_logging("worker")
    conf = settings.probes("worker")
    cleanup = _worker_metrics(conf) if conf.metrics_port else None
    if cleanup is None:  # METRICS_PORT=0: no Prometheus middleware (actors/__init__.py)
        os.environ.pop("dramatiq_prom_db", None)
    # /health and /ready from this, the main process: it lives as long as the pod.
    checks = {
        "postgres": probes.postgres_connects,
        "redis": probes.redis_ready,
        "bridge": probes.bridge_reachable,
    }
    probes.start("worker", alive=lambda: True, checks=checks)
    options = worker_options(args)
    sys.argv = [sys.executable, "-m", "app.cli", "worker", *options]  # re-executed on SIGHUP
    try:
        return int(dramatiq_main(make_argument_parser().parse_args(["actors", *options])) or 0)
    finally:
        if cleanup is not None:
            cleanup()


def _worker_metrics(conf: ProbeSettings) -> Callable[[], None]:
    """Dramatiq's Prometheus middleware in multiprocess mode, serving METRICS_PORT.

    Set here, before prometheus-client is imported: every worker process Dramatiq
    starts then writes its series (Dramatiq's and ours: dict_bridge_*, the lookups')
    to one directory, and the middleware's exposition process (Dramatiq starts it once
    the workers booted) serves them all. The function removes a private directory.
    """
    from app.probes import multiprocess_dir

    cleanup = multiprocess_dir()
    os.environ.update(  # Dramatiq's own (lower-case) names, read when actors is imported
        dramatiq_prom_db=os.environ["PROMETHEUS_MULTIPROC_DIR"],
        dramatiq_prom_host=conf.host,
        dramatiq_prom_port=str(conf.metrics_port),
    )
    return cleanup


def _scheduler(args: argparse.Namespace) -> int:
    # One process: its metrics live in memory, whatever the environment says.
    for name in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir", "dramatiq_prom_db"):
        os.environ.pop(name, None)
    from app.logging import configure_logging
    from app.scheduler import run

    configure_logging("scheduler")
    return run(args.shutdown_timeout)


def _dev(args: argparse.Namespace) -> int:
    from app.dev import run

    return run(api_port=args.port, sim_port=args.simulator_port, state_dir=args.state_dir)


def _apikey(args: argparse.Namespace) -> int:
    from app.security import cli_create

    scopes = [s for part in args.scopes for s in part.split(",") if s]
    try:
        print(cli_create(args.name, scopes))
    except ValueError as exc:
        print(f"dict-connect apikey create: {exc}", file=sys.stderr)
        return 2
    return 0


def _apikey_list(args: argparse.Namespace) -> int:
    from app.security import cli_list

    listing = cli_list(as_json=args.json)
    if listing:
        print(listing)
    return 0


def _apikey_revoke(args: argparse.Namespace) -> int:
    from app.api.auth import CACHE_SECONDS
    from app.security import cli_revoke, utc_text

    try:
        revoked = cli_revoke(args.key)
    except ValueError as exc:
        print(f"dict-connect apikey revoke: {exc}", file=sys.stderr)
        return 2
    if revoked is None:
        print(
            f"dict-connect apikey revoke: no API key named or prefixed {args.key!r}",
            file=sys.stderr,
        )
        return 1
    when = utc_text(revoked.revoked_at)
    if revoked.already:
        print(f"{revoked.name} ({revoked.prefix}) was already revoked at {when}")
    else:
        print(
            f"revoked {revoked.name} ({revoked.prefix}) at {when}; "
            f"API processes refuse it within {CACHE_SECONDS:g} s"
        )
    return 0


def _shutdown_timeout(p: argparse.ArgumentParser, process: str) -> None:
    p.add_argument(
        "--shutdown-timeout",
        type=int,
        default=SHUTDOWN_TIMEOUT_S[process],
        metavar="SECONDS",
        help="after SIGTERM, how long work in flight may take before the process ends it "
        "(default: %(default)s; the chart's terminationGracePeriodSeconds is 15 more)",
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dict-connect", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser(
        "migrate", help="apply pending migrations and mirror the state machines"
    ).set_defaults(fn=_migrate)

    api = sub.add_parser("api", help="run the REST API")
    api.add_argument("--host", default=os.environ.get("API_HOST", "127.0.0.1"))
    api.add_argument("--port", type=int, default=int(os.environ.get("API_PORT", "8000")))
    api.add_argument("--workers", type=int, default=int(os.environ.get("API_WORKERS", "1")))
    # Another app factory under the same server settings: the API benchmark's ceiling.
    api.add_argument("--app", default="app.api.app:create_app", help=argparse.SUPPRESS)
    _shutdown_timeout(api, "api")
    api.set_defaults(fn=_api)

    worker = sub.add_parser("worker", help="run the Dramatiq worker (the actors)")
    worker.add_argument(
        "--processes", type=int, default=int(os.environ.get("WORKER_PROCESSES", "2"))
    )
    worker.add_argument("--threads", type=int, default=int(os.environ.get("WORKER_THREADS", "8")))
    worker.add_argument(
        "--queues",
        nargs="+",
        choices=WORKER_QUEUES,
        default=os.environ.get("WORKER_QUEUES", "").split() or None,
        help="work only these queues (default: all): dict = calls to the DICT, "
        "default = timers and operators' requests, events = events for the core system, "
        "poll = the claims poll, cron = the crons' ticks",
    )
    _shutdown_timeout(worker, "worker")
    worker.set_defaults(fn=_worker)

    scheduler = sub.add_parser(
        "scheduler", help="run the periodiq crons (two replicas run safely: cron_runs)"
    )
    _shutdown_timeout(scheduler, "scheduler")
    scheduler.set_defaults(fn=_scheduler)

    sub.add_parser("simulator", help="run the DICT simulator (gRPC); --help for its options")
    sub.add_parser(
        "sim",
        help="act as another participant in the dev stack's simulated DICT (keys, claims, "
        "infraction reports, refund requests, clocks, the SPI's settled transactions); "
        "--help for its commands",
    )

    dev = sub.add_parser("dev", help="everything on this machine, for development")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--simulator-port", type=int, default=15051)
    dev.add_argument("--state-dir", default=".dict-connect")
    dev.set_defaults(fn=_dev)

    apikey = sub.add_parser("apikey", help="manage API keys")
    apisub = apikey.add_subparsers(dest="action", required=True)
    create = apisub.add_parser("create", help="create a key and print it once")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--scopes",
        nargs="+",
        required=True,
        help="e.g. entries:read entries:write (or comma-separated)",
    )
    create.set_defaults(fn=_apikey)
    listing = apisub.add_parser("list", help="every key: name, prefix, scopes, use, revocation")
    listing.add_argument("--json", action="store_true", help="one JSON object per key")
    listing.set_defaults(fn=_apikey_list)
    revoke = apisub.add_parser("revoke", help="revoke a key (the API answers it 401 within 5 s)")
    revoke.add_argument("key", metavar="NAME_OR_PREFIX", help="its name, or prefix (dc_xxxxxxxx)")
    revoke.set_defaults(fn=_apikey_revoke)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulator"]:  # its own parser owns every option after the word
        from simulator.__main__ import main as simulator_main

        return simulator_main(argv[1:])
    if argv[:1] == ["sim"]:  # a client of a running simulator, with its own parser too
        from simulator.ctl import main as sim_main

        return sim_main(argv[1:])
    args = parser().parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
