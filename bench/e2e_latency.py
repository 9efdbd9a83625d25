"""End-to-end latency of the pipeline: order POST -> final status (CONFIRMED/REJECTED).

    python bench/e2e_latency.py [--orders 60]        # prints JSON

Starts a local cloud of its own, deploys steps 1-3 and 5, then posts orders one at a time
and polls the order (GetItem, ConsistentRead, every 5 ms) until it is final. Also reports
the raw PutItem and API POST latencies measured in the same run, as the baseline.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

from common import free_port, latency_stats


def main() -> None:
    import localcloud
    from helpers import Lab
    from helpers.core.target import resolve_target
    from helpers.learn.demo import VALID_ORDER
    from helpers.ops.tracking import wait_for_final_status
    from helpers.pipeline.orders_api import OrdersApi
    from helpers.pipeline.step5 import deploy_pipeline

    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=60)
    args = parser.parse_args()
    port = free_port()
    localcloud.start(port)
    try:
        lab = Lab(
            resolve_target("endpoint", endpoint_url=f"http://127.0.0.1:{port}"), prefix=f"e2e{uuid.uuid4().hex[:4]}"
        )
        stack = deploy_pipeline(lab)
        api = OrdersApi(stack.ingestion.api.endpoint_url)
        ddb = lab.client("dynamodb")
        table = stack.table.name

        def final_status(order_id: str) -> None:
            wait_for_final_status(lab, table, order_id, timeout=30, interval=0.005)

        for _ in range(5):  # warm every function
            final_status(api.create(VALID_ORDER).json["orderId"])
        e2e, post = [], []
        for _ in range(args.orders):
            start = time.perf_counter()
            reply = api.create(VALID_ORDER)
            post.append((time.perf_counter() - start) * 1000)
            final_status(reply.json["orderId"])
            e2e.append((time.perf_counter() - start) * 1000)
        put = []
        for index in range(args.orders):
            start = time.perf_counter()
            ddb.put_item(TableName=f"{table}", Item={"orderId": {"S": f"bench-{index}"}, "status": {"S": "CONFIRMED"}})
            put.append((time.perf_counter() - start) * 1000)
        print(
            json.dumps(
                {
                    "order_post_to_final_status": latency_stats(e2e),
                    "api_post_orders": latency_stats(post),
                    "baseline_put_item": latency_stats(put),
                },
                indent=2,
            )
        )
    finally:
        localcloud.reset(port)


if __name__ == "__main__":
    main()
