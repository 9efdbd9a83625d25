"""What the lab creates, where, and what it costs: the tables of notebook 00 and the plan shown
before anything is created on a real account.

>>> plan_frame(lab)          # every resource the series creates for this prefix   # doctest: +SKIP
>>> print(plan_text(lab))    # account, region, names, tags, resources, cost      # doctest: +SKIP
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from helpers.core import naming
from helpers.aws.runtime import describe_runtime, lambda_runtime

if TYPE_CHECKING:
    import pandas as pd

    from helpers.core.lab import Lab

__all__ = ["STEP_RESOURCES", "cost_frame", "environment_frame", "plan_frame", "plan_text"]

# (step, service, component, kind, where to find it in the AWS console). ``{prefix}`` in a component
# is replaced by the prefix; other components become ``<prefix>-<component>``; ``{runtime}`` in a
# kind is the lab's Lambda runtime (helpers.aws.runtime).
STEP_RESOURCES: list[tuple[str, str, str, str, str]] = [
    ("01", "DynamoDB", "orders", "table (on demand)", "DynamoDB → Tables"),
    ("01", "IAM", "create-order-role", "role (least privilege)", "IAM → Roles"),
    ("01", "Lambda", "create-order", "function ({runtime})", "Lambda → Functions"),
    ("01", "CloudWatch Logs", "/aws/lambda/{prefix}-create-order", "log group (7 days)", "CloudWatch → Log groups"),
    ("01", "API Gateway", "orders-api", "HTTP API ($default stage)", "API Gateway → APIs"),
    ("01", "S3", "frontend-<account id>", "static website bucket (aws target only)", "S3 → Buckets"),
    ("02", "DynamoDB Streams", "orders stream", "NEW_AND_OLD_IMAGES stream of the table", "DynamoDB → Tables → Exports and streams"),
    ("02", "SQS", "order-queue", "standard queue", "Amazon SQS → Queues"),
    ("02", "SQS", "stream-failures", "on-failure destination of the stream trigger", "Amazon SQS → Queues"),
    ("02", "IAM", "stream-processor-role", "role (least privilege)", "IAM → Roles"),
    ("02", "Lambda", "stream-processor", "function ({runtime}) + DynamoDB stream trigger", "Lambda → Functions"),
    ("02", "CloudWatch Logs", "/aws/lambda/{prefix}-stream-processor", "log group (7 days)", "CloudWatch → Log groups"),
    ("03", "IAM", "order-worker-role", "role (least privilege)", "IAM → Roles"),
    ("03", "Lambda", "order-worker", "function ({runtime}) + SQS trigger", "Lambda → Functions"),
    ("03", "CloudWatch Logs", "/aws/lambda/{prefix}-order-worker", "log group (7 days)", "CloudWatch → Log groups"),
    ("04", "SQS", "high-value-queue", "target queue of the pipe", "Amazon SQS → Queues"),
    ("04", "SQS", "high-value-dlq", "dead-letter queue of high-value-queue", "Amazon SQS → Queues"),
    ("04", "SQS", "high-value-pipe-dlq", "dead-letter queue of the pipe", "Amazon SQS → Queues"),
    ("04", "IAM", "high-value-enricher-role", "role (least privilege)", "IAM → Roles"),
    ("04", "Lambda", "high-value-enricher", "function ({runtime}, pipe enrichment)", "Lambda → Functions"),
    ("04", "CloudWatch Logs", "/aws/lambda/{prefix}-high-value-enricher", "log group (7 days)", "CloudWatch → Log groups"),
    ("04", "IAM", "high-value-role", "role (least privilege)", "IAM → Roles"),
    ("04", "Lambda", "high-value", "function ({runtime}) + SQS trigger", "Lambda → Functions"),
    ("04", "CloudWatch Logs", "/aws/lambda/{prefix}-high-value", "log group (7 days)", "CloudWatch → Log groups"),
    ("04", "IAM", "high-value-pipe-role", "role of the pipe (least privilege)", "IAM → Roles"),
    ("04", "EventBridge Pipes", "high-value-pipe", "pipe: stream → filter → enrichment → queue", "Amazon EventBridge → Pipes"),
    ("04", "SQS", "numeric-pitfall-queue", "target of the 'numeric filter' exercise", "Amazon SQS → Queues"),
    ("04", "IAM", "numeric-pitfall-pipe-role", "role of the exercise's pipe", "IAM → Roles"),
    ("04", "EventBridge Pipes", "numeric-pitfall-pipe", "the exercise's pipe", "Amazon EventBridge → Pipes"),
    ("05", "SQS", "order-dlq", "dead-letter queue (redrive policy of order-queue)", "Amazon SQS → Queues"),
    ("06", "SNS", "alerts", "topic + e-mail and SQS subscriptions", "Amazon SNS → Topics"),
    ("06", "SQS", "alert-inbox", "queue subscribed to the alerts topic", "Amazon SQS → Queues"),
    ("06", "CloudWatch", "<alarms>", "metric alarms", "CloudWatch → Alarms"),
    ("06", "CloudWatch", "order-pipeline", "dashboard", "CloudWatch → Dashboards"),
]


def _alarm_rows(lab: "Lab") -> list[dict[str, str]]:
    from helpers.pipeline.step6 import ALARM_COMPONENTS

    return [{"step": "06", "service": "CloudWatch", "name": lab.name(component), "kind": "metric alarm → alerts topic",
             "console": "CloudWatch → Alarms"} for component in ALARM_COMPONENTS.values()]


def plan_frame(lab: "Lab") -> "pd.DataFrame":
    """Every resource the series creates for this prefix, with its name and console location."""
    import pandas as pd

    rows: list[dict[str, str]] = []
    runtime = lambda_runtime()
    for step, service, component, kind, console in STEP_RESOURCES:
        kind = kind.format(runtime=runtime)
        if component == "<alarms>":
            rows += _alarm_rows(lab)
            continue
        if component.startswith("/"):
            name = component.format(prefix=lab.prefix)
        elif component == "orders stream":  # the table's stream has no name of its own
            name = f"{lab.name('orders')} stream"
        else:
            name = lab.name(component)
        rows.append({"step": step, "service": service, "name": name, "kind": kind, "console": console})
    return pd.DataFrame(rows)


def plan_text(lab: "Lab") -> str:
    """The plan as plain text (what an unconfirmed ``aws`` connection shows before creating anything):
    where, under which names and tags, every resource of the series, and the cost estimate."""
    from helpers.learn.cost import summary_line

    frame = plan_frame(lab)
    lines = [f"Plan for prefix {lab.prefix!r} on {lab.target.describe()}:",
             f"  every resource is named {lab.prefix}-* and tagged "
             f"{naming.PROJECT_TAG}={naming.PROJECT}, {naming.PREFIX_TAG}={lab.prefix}",
             f"  {len(frame)} resources over the steps {', '.join(sorted(set(frame['step'])))} "
             "(each notebook creates only its step's):",
             f"  Lambda functions run on {describe_runtime()}"]
    lines += [f"    {row.step}  {row.service:<17} {row.name:<45} {row.kind}" for row in frame.itertuples()]
    lines.append(f"  Cost: {summary_line()}")
    lines.append("  Cleanup: run cleanup.ipynb (or `orderlab clean`); it proves that nothing remains.")
    return "\n".join(lines)


def cost_frame(orders: int = 1_000, *, memory_mb: int = 256, avg_duration_ms: float = 50) -> "pd.DataFrame":
    """The estimate for ``orders`` orders through the whole lab (see :func:`helpers.learn.cost.estimate_frame`)."""
    from helpers.learn.cost import LabUsage, estimate_frame

    return estimate_frame(LabUsage(orders=orders, memory_mb=memory_mb, avg_duration_ms=avg_duration_ms))


def environment_frame(lab: "Lab") -> "pd.DataFrame":
    """Where the lab runs: target, endpoint, region and (locally) the local cloud's state."""
    import pandas as pd

    rows = [("target", lab.target.kind), ("where", lab.target.describe()), ("region", lab.region),
            ("prefix", lab.prefix), ("Lambda runtime of the lab's functions", describe_runtime())]
    if lab.needs_confirmation:
        rows.append(("account (confirmed)", lab.account_id if lab.confirmed else "NOT confirmed"))
    if lab.target.is_local:
        import localcloud
        from localcloud import runtimes

        status = localcloud.status(lab.target.port)
        rows += [("local cloud", "running, healthy" if status.healthy else "NOT healthy"),
                 ("local cloud pid", str(status.pid)), ("MiniStack version", str(status.version)),
                 ("IAM policies enforced", {True: "yes", False: "no", None: "unknown"}[status.iam_enforced]),
                 ("local cloud log", status.log_file),
                 ("Lambda runtimes available here", ", ".join(runtimes.available_runtimes()))]
    return pd.DataFrame(rows, columns=["setting", "value"])
