"""What the lab creates and what it costs: tables for notebook 00.

>>> plan_frame(lab)        # doctest: +SKIP
"""
from __future__ import annotations

import pandas as pd

# (step, service, component, kind, where to find it in the AWS console)
STEP_RESOURCES: list[tuple[str, str, str, str, str]] = [
    ("01", "DynamoDB", "orders", "table", "DynamoDB → Tables"),
    ("01", "IAM", "create-order-role", "role (least privilege)", "IAM → Roles"),
    ("01", "Lambda", "create-order", "function (python3.11)", "Lambda → Functions"),
    ("01", "CloudWatch Logs", "/aws/lambda/{prefix}-create-order", "log group", "CloudWatch → Log groups"),
    ("01", "API Gateway", "orders-api", "HTTP API ($default stage)", "API Gateway → APIs"),
    ("01", "S3", "frontend-<account id>", "static website bucket (aws target only)", "S3 → Buckets"),
    ("02", "DynamoDB Streams", "orders stream", "NEW_AND_OLD_IMAGES stream of the table", "DynamoDB → Tables → Exports and streams"),
    ("02", "SQS", "order-queue", "standard queue", "Amazon SQS → Queues"),
    ("02", "SQS", "stream-failures", "on-failure destination of the stream trigger", "Amazon SQS → Queues"),
    ("02", "Lambda", "stream-processor", "function + DynamoDB stream trigger", "Lambda → Functions"),
    ("03", "Lambda", "order-worker", "function + SQS trigger", "Lambda → Functions"),
    ("05", "SQS", "order-dlq", "dead-letter queue (redrive policy of order-queue)", "Amazon SQS → Queues"),
]

# us-east-1 on-demand list prices (USD) used for the estimate; the AWS Free Tier covers a lab run.
PRICES = {
    "HTTP API requests": ("per million requests", 1.00),
    "Lambda requests": ("per million requests", 0.20),
    "Lambda compute": ("per GB-second", 0.0000166667),
    "DynamoDB writes": ("per million write request units", 0.625),
    "DynamoDB reads": ("per million read request units", 0.125),
    "CloudWatch Logs ingestion": ("per GB", 0.50),
}


def plan_frame(lab) -> pd.DataFrame:
    """Every resource the series creates for this prefix, with its name and console location."""
    rows = []
    for step, service, component, kind, console in STEP_RESOURCES:
        name = component.format(prefix=lab.prefix) if component.startswith("/") else lab.name(component)
        rows.append({"step": step, "service": service, "name": name, "kind": kind, "console": console})
    return pd.DataFrame(rows)


def cost_frame(orders: int = 1_000, *, memory_mb: int = 256, avg_duration_ms: float = 50) -> pd.DataFrame:
    """A rough cost of ``orders`` orders through step 1 on AWS (list prices; free tier ignored)."""
    million = 1_000_000
    gb_seconds = orders * (memory_mb / 1024) * (avg_duration_ms / 1000)
    usage = {
        "HTTP API requests": orders / million,
        "Lambda requests": orders / million,
        "Lambda compute": gb_seconds,
        "DynamoDB writes": orders / million,
        "DynamoDB reads": orders * 0.2 / million,
        "CloudWatch Logs ingestion": orders * 1_000 / 1024**3,
    }
    rows = [{"item": item, "unit": PRICES[item][0], "price (USD)": PRICES[item][1], "usage": round(amount, 6),
             "cost (USD)": round(amount * PRICES[item][1], 6)} for item, amount in usage.items()]
    frame = pd.DataFrame(rows)
    frame.loc[len(frame)] = {"item": "total", "unit": "", "price (USD)": None, "usage": None,
                             "cost (USD)": round(frame["cost (USD)"].sum(), 6)}
    return frame


def environment_frame(lab) -> pd.DataFrame:
    """Where the lab runs: target, endpoint, region and (locally) the local cloud's state."""
    rows = [("target", lab.target.kind), ("where", lab.target.describe()), ("region", lab.region),
            ("prefix", lab.prefix)]
    if lab.target.is_local:
        import localcloud
        from localcloud import runtimes

        status = localcloud.status(lab.target.port)
        rows += [("local cloud", "running, healthy" if status.healthy else "NOT healthy"),
                 ("local cloud pid", str(status.pid)), ("MiniStack version", str(status.version)),
                 ("local cloud log", status.log_file),
                 ("Lambda runtimes available here", ", ".join(runtimes.available_runtimes()))]
    return pd.DataFrame(rows, columns=["setting", "value"])
