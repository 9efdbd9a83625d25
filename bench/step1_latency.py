"""Step 1 latency on the local cloud vs MiniStack alone, measured in the same run.

    python bench/step1_latency.py [--requests 200]      # prints JSON

For each cloud: warm Lambda Invoke of a trivial function, and POST /orders through the
HTTP API -> create_order -> DynamoDB PutItem (the real step-1 stack, sequential, one client).
The baseline is the pinned MiniStack started on its own (`ministack`, loopback only).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
import uuid
import zipfile

import requests
from common import free_port, latency_stats


def _measure(endpoint: str, api_base_for, requests_count: int) -> dict:
    from helpers import Lab
    from helpers.aws.runtime import lambda_runtime
    from helpers.core.target import resolve_target
    from helpers.learn.demo import VALID_ORDER
    from helpers.pipeline.step1 import deploy_ingestion

    lab = Lab(resolve_target("endpoint", endpoint_url=endpoint), prefix=f"bench{uuid.uuid4().hex[:4]}")
    stack = deploy_ingestion(lab)
    base = api_base_for(stack.api)
    session = requests.Session()
    for _ in range(10):
        session.post(f"{base}/orders", json=VALID_ORDER, timeout=30).raise_for_status()
    post = []
    for _ in range(requests_count):
        start = time.perf_counter()
        resp = session.post(f"{base}/orders", json=VALID_ORDER, timeout=30)
        post.append((time.perf_counter() - start) * 1000)
        assert resp.status_code == 201, resp.text

    lam = lab.client("lambda")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return 1\n")
    name = lab.name("noop")
    lam.create_function(
        FunctionName=name,
        Runtime=lambda_runtime(),
        Role="arn:aws:iam::000000000000:role/r",
        Handler="app.handler",
        Code={"ZipFile": buf.getvalue()},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    for _ in range(10):
        lam.invoke(FunctionName=name, Payload=b"{}")
    invoke = []
    for _ in range(requests_count):
        start = time.perf_counter()
        lam.invoke(FunctionName=name, Payload=b"{}")
        invoke.append((time.perf_counter() - start) * 1000)
    return {"post_orders": latency_stats(post), "lambda_invoke": latency_stats(invoke)}


def main() -> None:
    import localcloud

    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    results: dict = {}

    port = free_port()
    started = time.perf_counter()
    localcloud.start(port)
    results["local_cloud_start_s"] = round(time.perf_counter() - started, 2)
    try:
        results["local_cloud"] = _measure(f"http://127.0.0.1:{port}", lambda api: api.endpoint_url, args.requests)
    finally:
        report = localcloud.stop(port)
        results["local_cloud_stop_s"] = round(report.seconds, 2)

    base_port = free_port()
    env = dict(os.environ, GATEWAY_PORT=str(base_port), BIND_HOST="127.0.0.1")
    baseline = subprocess.Popen(
        [sys.executable, "-m", "ministack"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{base_port}/_ministack/health", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        # MiniStack alone answers an unreachable *.execute-api.localhost ApiEndpoint; use its path form.
        results["ministack_alone"] = _measure(
            f"http://127.0.0.1:{base_port}",
            lambda api: f"http://127.0.0.1:{base_port}/_aws/execute-api/{api.api_id}",
            args.requests,
        )
    finally:
        os.killpg(baseline.pid, 15)
        baseline.wait(timeout=30)

    for op in ("post_orders", "lambda_invoke"):
        ours, theirs = results["local_cloud"][op]["p50_ms"], results["ministack_alone"][op]["p50_ms"]
        results.setdefault("speedup_p50", {})[op] = round(theirs / ours, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
