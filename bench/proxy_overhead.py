"""How much would a front proxy cost? The measurement behind the local cloud's architecture.

Two ways to override MiniStack behaviour were considered (README, "Architecture"):
a thin front proxy that forwards to MiniStack and owns the operations it overrides, or
launch-time patches inside the MiniStack process. This benchmark measures the proxy's
price: the same calls made directly to the local cloud and through a minimal pass-through
ASGI proxy (hypercorn + httpx, keep-alive), in the same run.

    python bench/proxy_overhead.py [--calls 500]     # prints JSON
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import socket
import statistics
import time
import zipfile

import boto3
from common import free_port

from helpers.aws.runtime import lambda_runtime


def _run_proxy(listen: int, upstream: int) -> None:
    import asyncio

    import httpx
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{upstream}", timeout=60)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k.lower() != b"host"]
        path = scope["raw_path"].decode() + (("?" + scope["query_string"].decode()) if scope["query_string"] else "")
        resp = await client.request(scope["method"], path, headers=headers, content=body)
        await send(
            {
                "type": "http.response.start",
                "status": resp.status_code,
                "headers": [
                    (k.encode(), v.encode())
                    for k, v in resp.headers.items()
                    if k.lower() not in ("content-length", "transfer-encoding", "connection")
                ],
            }
        )
        await send({"type": "http.response.body", "body": resp.content})

    config = Config()
    config.bind = [f"127.0.0.1:{listen}"]
    config.accesslog = None
    asyncio.run(serve(app, config))


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


def _timed(fn, calls: int) -> dict:
    for _ in range(20):
        fn()  # warm-up: connections, workers
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[int(len(samples) * 0.95)], 3),
        "per_second": round(1000 / statistics.mean(samples), 1),
    }


def main() -> None:
    import localcloud

    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()

    cloud_port, proxy_port = free_port(), free_port()
    localcloud.start(cloud_port)
    proxy = multiprocessing.Process(target=_run_proxy, args=(proxy_port, cloud_port), daemon=True)
    proxy.start()
    try:
        _wait_port(proxy_port)

        def clients(port):
            kw = dict(
                endpoint_url=f"http://127.0.0.1:{port}",
                region_name="us-east-1",
                aws_access_key_id="test",
                aws_secret_access_key="test",
            )
            return boto3.client("dynamodb", **kw), boto3.client("lambda", **kw)

        ddb, lam = clients(cloud_port)
        ddb.create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("app.py", "def handler(event, context):\n    return {'ok': True}\n")
        lam.create_function(
            FunctionName="bench",
            Runtime=lambda_runtime(),
            Role="arn:aws:iam::000000000000:role/r",
            Handler="app.handler",
            Code={"ZipFile": buf.getvalue()},
        )
        lam.get_waiter("function_active_v2").wait(FunctionName="bench")

        results = {}
        for label, port in (("direct", cloud_port), ("via_proxy", proxy_port)):
            ddb, lam_client = clients(port)
            counter = iter(range(10**9))
            # Default arguments bind this iteration's clients (the lambdas run before the loop moves on anyway).
            results[label] = {
                "dynamodb_put_item": _timed(
                    lambda ddb=ddb, counter=counter: ddb.put_item(
                        TableName="bench", Item={"pk": {"S": str(next(counter))}}
                    ),
                    args.calls,
                ),
                "lambda_invoke": _timed(
                    lambda lam_client=lam_client: lam_client.invoke(FunctionName="bench", Payload=b"{}"), args.calls
                ),
            }
        for op in ("dynamodb_put_item", "lambda_invoke"):
            direct, proxied = results["direct"][op]["p50_ms"], results["via_proxy"][op]["p50_ms"]
            results.setdefault("proxy_overhead", {})[op] = {
                "added_p50_ms": round(proxied - direct, 3),
                "ratio_p50": round(proxied / direct, 2),
            }
        print(json.dumps(results, indent=2))
    finally:
        proxy.terminate()
        localcloud.reset(cloud_port)


if __name__ == "__main__":
    main()
