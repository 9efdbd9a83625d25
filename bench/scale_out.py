"""API latency when create_order scales out and when its environments are killed (notebook 07's tail).

    .venv/bin/python bench/scale_out.py [--port PORT] [--rounds 3]

On a local cloud of its own: the step-1 stack (HTTP API -> create_order), warmed by a few
sequential orders; then, each round, a burst from 4 clients (create_order scales from one
environment to four) and, after every create_order environment is killed, another burst. Prints
p50/p99/max (ms) of each burst and the load average. ``ORDERLAB_LAMBDA_SPARE=0`` compares without
the spare environment. Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
for entry in (str(HERE.parent), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from common import free_port  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--orders", type=int, default=40, help="orders per burst")
    args = parser.parse_args()

    import localcloud
    from helpers import Lab
    from helpers.core.target import resolve_target
    from helpers.load.chaos import kill_lambda_workers
    from helpers.load.traffic import plan_orders, send_orders
    from helpers.pipeline.step1 import deploy_ingestion

    port = args.port or free_port()
    localcloud.reset(port)
    localcloud.start(port)
    try:
        target = resolve_target("endpoint", endpoint_url=f"http://127.0.0.1:{port}")
        lab = Lab(target, prefix=f"so{uuid.uuid4().hex[:5]}")
        stack = deploy_ingestion(lab)
        base = stack.api.endpoint_url
        send_orders(base, plan_orders(5), concurrency=1, progress=False)
        time.sleep(5)  # the zygote's start after the first init (what 01..06 leave behind in the series)
        rounds = []
        for number in range(args.rounds):
            burst = send_orders(base, plan_orders(args.orders, seed=10 + number), concurrency=4, progress=False)
            killed = kill_lambda_workers(port, lab.name("create-order"))
            after_kill = send_orders(base, plan_orders(args.orders, seed=50 + number), concurrency=4, progress=False)
            rounds.append(
                {
                    "scale_out": burst.latency_stats(),
                    "after_kill": after_kill.latency_stats(),
                    "killed": len(killed.pids),
                    "load_1m": round(os.getloadavg()[0], 1),
                }
            )
            time.sleep(2)
        print(json.dumps({"spare": os.environ.get("ORDERLAB_LAMBDA_SPARE", "1"), "rounds": rounds}))
    finally:
        localcloud.reset(port)


if __name__ == "__main__":
    main()
