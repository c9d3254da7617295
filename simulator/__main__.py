"""``python -m simulator`` / ``dict-connect simulator``: run the DICT simulator."""

from __future__ import annotations

import argparse
import logging
import os

from simulator.config import SimConfig, parse_participants


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dict-connect simulator", description="A gRPC server that behaves like the DICT."
    )
    p.add_argument("--host", default=os.environ.get("SIMULATOR_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("SIMULATOR_PORT", "15051")))
    p.add_argument(
        "--participants",
        default=os.environ.get("SIMULATOR_PARTICIPANTS", ""),
        help='ISPB:category pairs, e.g. "12345678:A,87654321:H" (default: 12345678:A,87654321:A)',
    )
    p.add_argument(
        "--state-dir",
        default=os.environ.get("SIMULATOR_STATE_DIR") or None,
        help="keep state across restarts (saved on a clean stop)",
    )
    p.add_argument(
        "--list-lag-seconds",
        type=float,
        default=0.0,
        help="lists hide rows modified less than this ago (the DICT: up to 5)",
    )
    p.add_argument("--cid-file-processing-seconds", type=float, default=10.0)
    p.add_argument("--no-rate-limits", action="store_true", help="never answer RateLimited")
    p.add_argument("--no-key-limits", action="store_true", help="no EntryLimitExceeded")
    p.add_argument(
        "--max-workers",
        type=int,
        default=2,
        help="handler threads for ordinary calls (more only add GIL contention)",
    )
    p.add_argument("--log-level", default="INFO")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    from simulator.server import serve

    config = SimConfig(
        list_lag_seconds=args.list_lag_seconds,
        cid_file_processing_seconds=args.cid_file_processing_seconds,
        rate_limits_enabled=not args.no_rate_limits,
        key_limits_enabled=not args.no_key_limits,
    )
    serve(
        args.host,
        args.port,
        participants=parse_participants(args.participants) or None,
        state_dir=args.state_dir,
        config=config,
        max_workers=args.max_workers,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
