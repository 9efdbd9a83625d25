"""What keeping the state costs: the full pipeline under load with persistence on, then off.

    python bench/persistence_cost.py [--orders 10000] [--clients 8] [--modes on,off]   # prints JSON

For each mode, a local cloud of its own (reset before and after) with steps 1-3 and 5 deployed;
``--orders`` orders posted by ``--clients`` clients as fast as they go, then the wait until the
pipeline settled. Reported per mode: ingest and completion rates, server RSS, and with
persistence on the snapshots' figures at the end (event-loop pause of the last and the longest
capture, pickling and writing time, size on disk) and a graceful stop and start's seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
import uuid
from typing import Any

from common import free_port


def _run(persist: bool, orders: int, clients: int) -> dict[str, Any]:
    import localcloud
    from helpers import Lab
    from helpers.core.target import resolve_target
    from helpers.load.chaos import cloud_memory
    from helpers.load.ledger import collect, wait_until_settled
    from helpers.load.traffic import plan_orders, send_orders
    from helpers.pipeline.step5 import deploy_pipeline
    from localcloud import persistence

    port = free_port()
    localcloud.reset(port)
    localcloud.start(port, persist=persist)
    try:
        lab = Lab(
            resolve_target("endpoint", endpoint_url=f"http://127.0.0.1:{port}"), prefix=f"pc{uuid.uuid4().hex[:4]}"
        )
        stack = deploy_pipeline(lab, fault_injection=False)
        send_orders(stack.api.endpoint_url, plan_orders(clients * 2), concurrency=clients, progress=False)
        started = time.time()
        result = send_orders(stack.api.endpoint_url, plan_orders(orders, seed=17), concurrency=clients, progress=False)
        wait_until_settled(lab, stack.table.name, stack.queues, result.sent, max_receive_count=3, timeout=900)
        settled = time.time() - started
        ledger = collect(lab, stack.table.name, stack.queues, result.sent)
        figures: dict[str, Any] = {
            "persist": persist,
            "orders": orders,
            "clients": clients,
            "ingest_orders_per_s": round(result.rate, 1),
            "completion_orders_per_s": round(orders / settled, 1),
            "api_post": result.latency_stats(),
            "accounted_pct": ledger.summary()["accounted_pct"],
            "memory": {k: v for k, v in cloud_memory(port).items() if k != "by_function"},
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
        if persist:
            time.sleep(persistence.SNAPSHOT_SECONDS * 2)  # the snapshot after the last change
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{persistence.STATS_PATH}") as reply:
                figures["snapshots"] = json.loads(reply.read())
            stopped = localcloud.stop(port)
            begin = time.monotonic()
            localcloud.start(port)
            figures["graceful_stop_s"] = round(stopped.seconds, 2)
            figures["start_with_state_s"] = round(time.monotonic() - begin, 2)
        return figures
    finally:
        localcloud.reset(port)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--modes", default="on,off", help="on, off or both (in that order)")
    args = parser.parse_args()
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        print(json.dumps(_run(mode == "on", args.orders, args.clients), indent=2), flush=True)


if __name__ == "__main__":
    main()
