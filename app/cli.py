"""``dict-connect``: one command, one subcommand per process (ARCHITECTURE.md, "Processes")."""

from __future__ import annotations

import argparse
import os
import sys


def _migrate(args: argparse.Namespace) -> int:
    from app.migrate import migrate

    applied = migrate()
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")
    return 0


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from app.logging import configure_logging

    configure_logging("api")
    uvicorn.run(
        "app.api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    argv = [
        sys.executable,
        "-m",
        "dramatiq",
        "actors",
        "--processes",
        str(args.processes),
        "--threads",
        str(args.threads),
    ]
    os.execv(sys.executable, argv)
    return 0  # pragma: no cover


def _scheduler(args: argparse.Namespace) -> int:
    import logging

    import periodiq

    logging.basicConfig(level=logging.INFO, format=periodiq.LOGFORMAT)
    return int(periodiq.main(periodiq.make_argument_parser().parse_args(["actors"])) or 0)


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
    api.set_defaults(fn=_api)

    worker = sub.add_parser("worker", help="run the Dramatiq worker (the actors)")
    worker.add_argument(
        "--processes", type=int, default=int(os.environ.get("WORKER_PROCESSES", "2"))
    )
    worker.add_argument("--threads", type=int, default=int(os.environ.get("WORKER_THREADS", "8")))
    worker.set_defaults(fn=_worker)

    sub.add_parser("scheduler", help="run the periodiq crons (exactly one replica)").set_defaults(
        fn=_scheduler
    )

    sub.add_parser("simulator", help="run the DICT simulator (gRPC); --help for its options")
    sub.add_parser(
        "sim",
        help="act as another participant in the dev stack's simulated DICT (keys, claims, "
        "clocks); --help for its commands",
    )

    dev = sub.add_parser("dev", help="everything on this machine, for development")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--simulator-port", type=int, default=50051)
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
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulator"]:  # its own parser owns every option after the word
        from app.bridge.simulator.__main__ import main as simulator_main

        return simulator_main(argv[1:])
    if argv[:1] == ["sim"]:  # a client of a running simulator, with its own parser too
        from app.simctl import main as sim_main

        return sim_main(argv[1:])
    args = parser().parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
