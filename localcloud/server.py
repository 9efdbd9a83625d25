"""The local cloud process: pinned MiniStack + the patches, on 127.0.0.1 only.

Started in the background by :func:`localcloud.start`; run by hand for debugging with
``python -m localcloud.server --port 4599``. SIGTERM/SIGINT stop it quickly: the HTTP
server gets a short grace period, then every Lambda worker is killed before exit.

``--enforce-iam`` (or ``ORDERLAB_ENFORCE_IAM=1`` in the environment) turns on MiniStack's IAM
policy evaluation (its ``AUTH=true``): the lab's own ``test`` credentials stay the account's
root (allowed everything, like an administrator on AWS), while every call a Lambda function
makes is signed with temporary credentials of its execution role and checked against that
role's policies, so a missing grant fails locally with ``AccessDenied`` as it would on AWS
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html).

>>> enforce_iam_requested({"ORDERLAB_ENFORCE_IAM": "1"}), enforce_iam_requested({})
(True, False)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable

from localcloud import lambda_zygote

EDITION = "orderlab"  # reported by /_ministack/health, so status() can tell the cloud is ours
ENFORCE_IAM_ENV = "ORDERLAB_ENFORCE_IAM"
_TRUE = ("1", "true", "yes", "on")


def enforce_iam_requested(environ: os._Environ[str] | dict[str, str] | None = None) -> bool:
    """True when ``ORDERLAB_ENFORCE_IAM`` asks for IAM enforcement (1/true/yes/on)."""
    environ = os.environ if environ is None else environ
    return str(environ.get(ENFORCE_IAM_ENV, "")).strip().lower() in _TRUE


def _configure_environment(port: int, *, enforce_iam: bool = False) -> None:
    # MiniStack reads these at import time.
    os.environ["GATEWAY_PORT"] = str(port)
    os.environ["BIND_HOST"] = "127.0.0.1"
    os.environ["MINISTACK_EDITION"] = EDITION
    os.environ.setdefault("LOG_LEVEL", "INFO")
    # MiniStack's IAM evaluation (ministack/core/iam_evaluator.py) is on only with AUTH=true;
    # set explicitly either way, so an AUTH left in the launching shell cannot switch it.
    os.environ["AUTH"] = "true" if enforce_iam else "false"


async def _serve(port: int, *, before_stop: Callable[[], object] | None = None) -> None:
    import ministack.app as ministack_app
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.keep_alive_timeout = 75
    config.graceful_timeout = 2.0
    config.loglevel = os.environ.get("LOG_LEVEL", "INFO").upper()
    config.accesslog = None

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop_now() -> None:
        lambda_zygote.server_stopping()  # the same signal ends the zygotes: none may restart
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_now)

    async def stop_requested() -> None:
        await stop.wait()
        if before_stop is not None:  # persistence: quiesce while HTTP still serves (localcloud/persistence.py)
            await asyncio.to_thread(before_stop)

    await serve(ministack_app.app, config, shutdown_trigger=stop_requested)
    # Before asyncio.run shuts the default executor down, which waits for its threads: an invocation
    # still waiting on its Lambda worker would hold the exit until the function returned.
    _kill_lambda_workers()


def _kill_lambda_workers() -> None:
    try:
        from ministack.core import lambda_runtime

        lambda_runtime.reset()
    except Exception as exc:  # never block shutdown on this
        logging.getLogger("localcloud").warning("killing Lambda workers failed: %s", exc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Order Pipeline Lab local cloud (MiniStack + AWS-fidelity patches)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--enforce-iam",
        action="store_true",
        help=f"evaluate IAM policies (MiniStack AUTH=true); also {ENFORCE_IAM_ENV}=1",
    )
    parser.add_argument(
        "--no-persist",
        action="store_true",
        help="keep the state in memory only (by default it is snapshotted to "
        "~/.orderlab/cloud-<port>/state/, localcloud/persistence.py); also ORDERLAB_PERSIST=0",
    )
    parser.add_argument("--persist", action="store_true", help=argparse.SUPPRESS)  # the default; accepted
    args = parser.parse_args(argv)
    enforce_iam = args.enforce_iam or enforce_iam_requested()
    _configure_environment(args.port, enforce_iam=enforce_iam)
    from localcloud import memory

    memory.tune()  # before any thread starts: glibc arenas capped, freed memory trimmed (issue 8)
    from localcloud import persistence

    persist = not args.no_persist and (args.persist or persistence.persist_requested())
    if persist:
        persistence.configure_environment(os.environ, args.port)
    else:  # a PERSIST_STATE left in the launching shell must not turn on MiniStack's persistence without the fixes
        os.environ["PERSIST_STATE"] = "0"

    from localcloud.patches import PatchError, apply_all

    try:
        applied = apply_all()
    except PatchError as exc:
        print(f"localcloud: {exc}", file=sys.stderr, flush=True)
        return 3
    if enforce_iam:
        # Only meaningful under AUTH=true (SQS batch actions, the mapping's role check, logs written with
        # the function's role): applied here so a cloud without enforcement runs exactly apply_all()'s patches.
        from localcloud.services.iam import enforcement as iam_enforcement

        try:
            iam_enforcement.apply()
        except PatchError as exc:
            print(f"localcloud: {exc}", file=sys.stderr, flush=True)
            return 3
        applied.append("iam_enforcement")
    print(f"localcloud: patches applied: {', '.join(applied)}", flush=True)
    print(f"localcloud: IAM policy enforcement {'ON' if enforce_iam else 'off'}", flush=True)
    if persist:
        persistence.install()
        print(
            f"localcloud: state persistence ON ({os.environ['STATE_DIR']}, snapshots every "
            f"{persistence.SNAPSHOT_SECONDS:g} s when something changed)",
            flush=True,
        )
    else:
        print("localcloud: state persistence off (state in memory only)", flush=True)
    try:
        asyncio.run(_serve(args.port, before_stop=persistence.quiesce if persist else None))
    finally:
        _kill_lambda_workers()
        print("localcloud: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
