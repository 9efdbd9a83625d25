"""The local cloud process: pinned MiniStack + the patches, on 127.0.0.1 only.

Started in the background by :func:`localcloud.start`; run by hand for debugging with
``python -m localcloud.server --port 4599``. SIGTERM/SIGINT stop it quickly: the HTTP
server gets a short grace period, then every Lambda worker is killed before exit.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

EDITION = "orderlab"  # reported by /_ministack/health, so status() can tell the cloud is ours


def _configure_environment(port: int) -> None:
    # MiniStack reads these at import time.
    os.environ["GATEWAY_PORT"] = str(port)
    os.environ["BIND_HOST"] = "127.0.0.1"
    os.environ["MINISTACK_EDITION"] = EDITION
    os.environ.setdefault("LOG_LEVEL", "INFO")


async def _serve(port: int) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    import ministack.app as ministack_app

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.keep_alive_timeout = 75
    config.graceful_timeout = 2.0
    config.loglevel = os.environ.get("LOG_LEVEL", "INFO").upper()
    config.accesslog = None

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(ministack_app.app, config, shutdown_trigger=stop.wait)


def _kill_lambda_workers() -> None:
    try:
        from ministack.core import lambda_runtime

        lambda_runtime.reset()
    except Exception as exc:  # never block shutdown on this
        logging.getLogger("localcloud").warning("killing Lambda workers failed: %s", exc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Order Pipeline Lab local cloud (MiniStack + AWS-fidelity patches)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    _configure_environment(args.port)

    from localcloud.patches import PatchError, apply_all

    try:
        applied = apply_all()
    except PatchError as exc:
        print(f"localcloud: {exc}", file=sys.stderr, flush=True)
        return 3
    print(f"localcloud: patches applied: {', '.join(applied)}", flush=True)
    try:
        asyncio.run(_serve(args.port))
    finally:
        _kill_lambda_workers()
        print("localcloud: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
