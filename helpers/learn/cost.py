"""What the whole lab costs on a real AWS account: per-request prices, free tier, an estimate.

>>> frame = estimate_frame(LabUsage(orders=1_000, hours_deployed=4))     # doctest: +SKIP
>>> summary_line(LabUsage())                                              # doctest: +SKIP
'A full run of the lab (1,000 orders, deployed 4 h): about $0.06 at list prices; $0.00 if the free tier ...'

Everything the lab uses is billed per request (or per hour for alarms, dashboards and custom
metrics, pro-rated): with no traffic and nothing deployed there is nothing to pay. The prices are
us-east-1 on-demand list prices in USD as published on the AWS pricing pages below in 2025
(DynamoDB on-demand after its 1 November 2024 reduction); other regions differ a little. Check
the pricing pages before relying on the figures: :data:`PRICES_REVIEWED` says when they were read.

The free tier: the "always free" monthly allowances (Lambda, DynamoDB storage, SQS, SNS, CloudWatch,
Logs) apply to every account; the 12-month offers (HTTP API calls, S3) only to accounts created
before 15 July 2025 in their first year — newer accounts get the credit-based Free Tier instead
(https://aws.amazon.com/free/). The estimate shows the cost at list price and after the always-free
allowances (not the 12-month ones), assuming nothing else in the account uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from helpers.aws.common import paginate
from helpers.pipeline.catalog import ALARMS, BUSINESS_METRICS, DASHBOARD_COMPONENT, METRICS_NAMESPACE

if TYPE_CHECKING:
    import pandas as pd

    from helpers.core.lab import Lab

__all__ = [
    "PRICES",
    "PRICES_REVIEWED",
    "PRICE_REGION",
    "CloudWatchInventory",
    "EstimateRow",
    "LabUsage",
    "Price",
    "cloudwatch_inventory",
    "deployed_cloudwatch_inventory",
    "estimate",
    "estimate_frame",
    "inventory_frame",
    "price_frame",
    "summary_line",
    "usage_fields",
]

PRICES_REVIEWED = "2025"
PRICE_REGION = "us-east-1"
HOURS_PER_MONTH = 730  # AWS's convention for pro-rating monthly charges


@dataclass(frozen=True)
class Price:
    """One list price: ``usd`` per ``per`` units of ``unit``; ``free`` units a month are free."""

    key: str
    service: str
    item: str
    unit: str
    usd: float
    per: float
    free: float = 0.0
    free_kind: str = ""  # "always free", "12 months", or "" (none)
    source: str = ""

    @property
    def unit_price(self) -> float:
        return self.usd / self.per


_M = 1_000_000
PRICES: dict[str, Price] = {
    p.key: p
    for p in [
        Price(
            "http_api",
            "API Gateway",
            "HTTP API requests",
            "requests",
            1.00,
            _M,
            1 * _M,
            "12 months",
            "https://aws.amazon.com/api-gateway/pricing/",
        ),
        Price(
            "lambda_requests",
            "Lambda",
            "invocations",
            "requests",
            0.20,
            _M,
            1 * _M,
            "always free",
            "https://aws.amazon.com/lambda/pricing/",
        ),
        Price(
            "lambda_compute",
            "Lambda",
            "compute (x86)",
            "GB-seconds",
            0.0000166667,
            1,
            400_000,
            "always free",
            "https://aws.amazon.com/lambda/pricing/",
        ),
        Price(
            "ddb_writes",
            "DynamoDB",
            "on-demand writes",
            "write request units",
            0.625,
            _M,
            0,
            "",
            "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        ),
        Price(
            "ddb_reads",
            "DynamoDB",
            "on-demand reads",
            "read request units",
            0.125,
            _M,
            0,
            "",
            "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        ),
        Price(
            "ddb_stream_reads",
            "DynamoDB Streams",
            "stream reads by the pipes (Lambda's are free)",
            "stream read request units",
            0.02,
            100_000,
            2_500_000,
            "always free",
            "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        ),
        Price(
            "sqs",
            "SQS",
            "standard queue requests (64 KB chunks)",
            "requests",
            0.40,
            _M,
            1 * _M,
            "always free",
            "https://aws.amazon.com/sqs/pricing/",
        ),
        Price(
            "pipes",
            "EventBridge Pipes",
            "requests after filtering (64 KB chunks)",
            "requests",
            0.40,
            _M,
            0,
            "",
            "https://aws.amazon.com/eventbridge/pricing/",
        ),
        Price(
            "sns_publish",
            "SNS",
            "publishes",
            "requests",
            0.50,
            _M,
            1 * _M,
            "always free",
            "https://aws.amazon.com/sns/pricing/",
        ),
        Price(
            "sns_email",
            "SNS",
            "e-mail notifications",
            "notifications",
            2.00,
            100_000,
            1_000,
            "always free",
            "https://aws.amazon.com/sns/pricing/",
        ),
        Price(
            "logs_ingest",
            "CloudWatch Logs",
            "log ingestion",
            "GB",
            0.50,
            1,
            5,
            "always free",
            "https://aws.amazon.com/cloudwatch/pricing/",
        ),
        Price(
            "alarms",
            "CloudWatch",
            "standard alarms (pro-rated hourly)",
            "alarm-months",
            0.10,
            1,
            10,
            "always free",
            "https://aws.amazon.com/cloudwatch/pricing/",
        ),
        Price(
            "dashboards",
            "CloudWatch",
            "dashboards (pro-rated hourly)",
            "dashboard-months",
            3.00,
            1,
            3,
            "always free",
            "https://aws.amazon.com/cloudwatch/pricing/",
        ),
        Price(
            "custom_metrics",
            "CloudWatch",
            "custom metrics from EMF logs (pro-rated hourly)",
            "metric-months",
            0.30,
            1,
            10,
            "always free",
            "https://aws.amazon.com/cloudwatch/pricing/",
        ),
        Price(
            "metric_data",
            "CloudWatch",
            "GetMetricData (the notebooks' plots)",
            "metrics requested",
            0.01,
            1_000,
            0,
            "",
            "https://aws.amazon.com/cloudwatch/pricing/",
        ),
        Price(
            "s3_requests",
            "S3",
            "website requests (PUT + GET, aws target only)",
            "requests",
            0.005,
            1_000,
            2_000,
            "12 months",
            "https://aws.amazon.com/s3/pricing/",
        ),
    ]
}


@dataclass(frozen=True)
class CloudWatchInventory:
    """How many alarms, custom metrics and dashboards the lab keeps (charged by the hour on AWS)."""

    alarms: int
    custom_metrics: int
    dashboards: int
    alarm_names: tuple[str, ...] = ()
    metric_names: tuple[str, ...] = ()
    dashboard_names: tuple[str, ...] = ()


def cloudwatch_inventory(prefix: str = "<prefix>") -> CloudWatchInventory:
    """What step 6 creates (its alarms and dashboard) and the custom metrics the functions publish (one
    dimension set, ``service``, each), as the catalog declares them.

    >>> cloudwatch_inventory("alice").alarms >= 1
    True
    """
    metrics = tuple(sorted(BUSINESS_METRICS))
    alarms = tuple(f"{prefix}-{alarm.component}" for alarm in ALARMS)
    return CloudWatchInventory(
        alarms=len(alarms),
        custom_metrics=len(metrics),
        dashboards=1,
        alarm_names=alarms,
        metric_names=metrics,
        dashboard_names=(f"{prefix}-{DASHBOARD_COMPONENT}",),
    )


def deployed_cloudwatch_inventory(lab: Lab) -> CloudWatchInventory:
    """What this prefix has right now: alarms and dashboards named ``<prefix>-*``; custom metrics of the
    lab's namespace (shared by every prefix in the account: metrics carry no prefix)."""
    cloudwatch = lab.client("cloudwatch")
    alarms = [
        a["AlarmName"]
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"{lab.prefix}-")
        for a in page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
    ]
    dashboards = [
        d["DashboardName"]
        for d in paginate(cloudwatch, "list_dashboards", "DashboardEntries", DashboardNamePrefix=f"{lab.prefix}-")
    ]
    metrics = sorted(
        {m["MetricName"] for m in paginate(cloudwatch, "list_metrics", "Metrics", Namespace=METRICS_NAMESPACE)}
    )
    return CloudWatchInventory(
        len(alarms), len(metrics), len(dashboards), tuple(sorted(alarms)), tuple(metrics), tuple(sorted(dashboards))
    )


@dataclass(frozen=True)
class LabUsage:
    """What one learner's full run of the series uses (the assumptions behind the estimate).

    Per order: one POST and ``status_reads`` GETs through the API (each a create_order invocation);
    two stream records (insert, then the worker's update) each invoking stream_processor (worst
    case: batches of one); one order_worker invocation plus one per retry; ``high_value_fraction``
    of the orders also go through the pipe, the enricher and the high_value consumer.
    While deployed, Lambda long-polls each SQS-triggered queue with 5 pollers (20 s waits) and each
    pipe polls the table's stream 4 times a second (one shard) — that is the idle cost.
    """

    orders: int = 1_000
    status_reads: int = 3
    high_value_fraction: float = 0.2
    retry_fraction: float = 0.2
    hours_deployed: float = 4.0
    memory_mb: int = 256
    avg_duration_ms: float = 100.0
    log_bytes_per_invocation: int = 1_500
    sqs_triggered_queues: int = 2
    pipes: int = 2
    alert_publishes: int = 20
    alert_emails: int = 20
    metrics_requested: int = 2_000
    website_requests: int = 100
    cloudwatch: CloudWatchInventory = field(default_factory=cloudwatch_inventory)

    def quantities(self) -> dict[str, float]:
        """Units of each :data:`PRICES` item this run uses."""
        orders, hv = self.orders, self.orders * self.high_value_fraction
        retries = self.orders * self.retry_fraction
        seconds = self.hours_deployed * 3600
        invocations = (
            orders * (1 + self.status_reads)  # create_order: POST + GETs
            + orders * 2  # stream_processor: insert + update records
            + orders
            + retries  # order_worker
            + hv * 2
        )  # enricher + high_value consumer
        idle_receives = self.sqs_triggered_queues * 5 * seconds / 20
        sqs = (
            orders * 3  # send (batch), receive, delete
            + retries * 2  # change visibility + receive again
            + hv * 3  # pipe's send, consumer's receive and delete
            + idle_receives
        )
        month_share = self.hours_deployed / HOURS_PER_MONTH
        return {
            "http_api": orders * (1 + self.status_reads),
            "lambda_requests": invocations,
            "lambda_compute": invocations * self.memory_mb / 1024 * self.avg_duration_ms / 1000,
            "ddb_writes": orders * 2 + hv,  # put, worker update, high-value mark
            "ddb_reads": orders * self.status_reads + orders,  # status GETs, worker's read
            "ddb_stream_reads": self.pipes * 4 * seconds,
            "sqs": sqs,
            "pipes": hv,
            "sns_publish": self.alert_publishes,
            "sns_email": self.alert_emails,
            "logs_ingest": invocations * self.log_bytes_per_invocation / 1024**3,
            "alarms": self.cloudwatch.alarms * month_share,
            "dashboards": self.cloudwatch.dashboards * month_share,
            "custom_metrics": self.cloudwatch.custom_metrics * month_share,
            "metric_data": self.metrics_requested,
            "s3_requests": self.website_requests,
        }


@dataclass(frozen=True)
class EstimateRow:
    price: Price
    quantity: float

    @property
    def list_cost(self) -> float:
        return self.quantity * self.price.unit_price

    @property
    def free_quantity(self) -> float:
        """Units the "always free" allowance covers (12-month offers are not counted: accounts
        created since 15 July 2025 do not have them)."""
        return min(self.quantity, self.price.free) if self.price.free_kind == "always free" else 0.0

    @property
    def cost_after_free_tier(self) -> float:
        return (self.quantity - self.free_quantity) * self.price.unit_price


def estimate(usage: LabUsage | None = None) -> list[EstimateRow]:
    """One row per priced item, in :data:`PRICES` order."""
    usage = usage or LabUsage()
    quantities = usage.quantities()
    return [EstimateRow(PRICES[key], quantities[key]) for key in PRICES]


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def summary_line(usage: LabUsage | None = None) -> str:
    """One sentence: the whole lab's cost at list price and after the free tier."""
    usage = usage or LabUsage()
    rows = estimate(usage)
    listed = sum(r.list_cost for r in rows)
    after = sum(r.cost_after_free_tier for r in rows)
    return (
        f"A full run of the lab ({usage.orders:,} orders, deployed {usage.hours_deployed:g} h) costs about "
        f"{_money(listed)} at {PRICE_REGION} list prices, {_money(after)} after the always-free monthly allowances "
        f"(prices as published in {PRICES_REVIEWED}); nothing is charged once cleanup.ipynb has run."
    )


def price_frame() -> pd.DataFrame:
    """The per-request prices the estimate uses, with the free tier and the page each comes from."""
    # pandas on use: `import helpers` loads this module (the account gate's plan)
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "service": p.service,
                "item": p.item,
                "price (USD)": p.usd,
                "per": f"{p.per:,.0f} {p.unit}" if p.per != 1 else p.unit.rstrip("s"),
                "free each month": f"{p.free:,.0f} {p.unit}" if p.free else "—",
                "free tier": p.free_kind or "none",
                "source": p.source,
            }
            for p in PRICES.values()
        ]
    )


def estimate_frame(usage: LabUsage | None = None) -> pd.DataFrame:
    """The estimate as a table: usage, cost at list price, cost after the free tier; a total row last."""
    # pandas on use: `import helpers` loads this module (the account gate's plan)
    import pandas as pd

    rows = estimate(usage)
    frame = pd.DataFrame(
        [
            {
                "service": r.price.service,
                "item": r.price.item,
                "usage": round(r.quantity, 4),
                "unit": r.price.unit,
                "list cost (USD)": round(r.list_cost, 5),
                "after free tier (USD)": round(r.cost_after_free_tier, 5),
            }
            for r in rows
        ]
    )
    frame.loc[len(frame)] = {
        "service": "total",
        "item": "",
        "usage": None,
        "unit": "",
        "list cost (USD)": round(sum(r.list_cost for r in rows), 4),
        "after free tier (USD)": round(sum(r.cost_after_free_tier for r in rows), 4),
    }
    return frame


def inventory_frame(inventory: CloudWatchInventory | None = None) -> pd.DataFrame:
    """Alarms, custom metrics and dashboards: how many, which, and their monthly list price."""
    # pandas on use: `import helpers` loads this module (the account gate's plan)
    import pandas as pd

    inventory = inventory or cloudwatch_inventory()
    rows = [
        ("alarms", inventory.alarms, inventory.alarm_names, PRICES["alarms"]),
        ("custom metrics", inventory.custom_metrics, inventory.metric_names, PRICES["custom_metrics"]),
        ("dashboards", inventory.dashboards, inventory.dashboard_names, PRICES["dashboards"]),
    ]
    return pd.DataFrame(
        [
            {
                "kind": kind,
                "count": count,
                "names": ", ".join(names),
                "free each month": int(price.free),
                "USD per month beyond the free tier": round(max(0, count - price.free) * price.usd, 2),
            }
            for kind, count, names, price in rows
        ]
    )


def usage_fields() -> list[str]:
    """The assumptions a notebook can change (``LabUsage`` field names)."""
    return [f.name for f in fields(LabUsage)]
