"""The cost estimate of notebook 00 (helpers/learn/cost.py) and the plan (helpers/learn/plan.py), offline.

Prices: https://aws.amazon.com/lambda/pricing/, https://aws.amazon.com/api-gateway/pricing/,
https://aws.amazon.com/dynamodb/pricing/on-demand/, https://aws.amazon.com/sqs/pricing/,
https://aws.amazon.com/sns/pricing/, https://aws.amazon.com/eventbridge/pricing/,
https://aws.amazon.com/cloudwatch/pricing/, https://aws.amazon.com/free/
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from helpers.core.lab import Lab
from helpers.core.paths import LAMBDAS_DIR
from helpers.core.target import Target
from helpers.learn.cost import (
    PRICES,
    CloudWatchInventory,
    LabUsage,
    cloudwatch_inventory,
    estimate,
    estimate_frame,
    inventory_frame,
    price_frame,
    summary_line,
)
from helpers.learn.plan import plan_frame, plan_text
from helpers.pipeline import catalog

QUIET = CloudWatchInventory(alarms=0, custom_metrics=0, dashboards=0)


def emf_metric_names(lambdas_dir: Path = LAMBDAS_DIR) -> tuple[str, ...]:
    """The business metrics the handlers publish with Powertools (``metrics.add_metric(name=...)``),
    read from their source: literal names, and the values of a module-level dict used as the name."""
    names: set[str] = set()
    for source in sorted(lambdas_dir.glob("*/*/*.py")):
        tree = ast.parse(source.read_text(), filename=str(source))
        dicts = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Dict)
        }
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_metric"
            ):
                continue
            for keyword in node.keywords:
                value = keyword.value
                if keyword.arg != "name":
                    continue
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    names.add(value.value)
                elif isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name) and value.value.id in dicts:
                    names.update(
                        v.value
                        for v in dicts[value.value.id].values
                        if isinstance(v, ast.Constant) and isinstance(v.value, str)
                    )
    return tuple(sorted(names))


def total(rows, attribute: str = "list_cost") -> float:
    return sum(getattr(row, attribute) for row in rows)


def test_every_price_is_per_request_or_per_hour_with_its_source_and_free_tier():
    for price in PRICES.values():
        assert price.usd > 0 and price.per > 0, price
        assert (
            price.source.startswith("https://aws.amazon.com/") and price.source.endswith("/pricing/")
        ) or price.source.startswith("https://aws.amazon.com/dynamodb/pricing/"), price
        assert price.free_kind in ("always free", "12 months", ""), price
        assert (price.free > 0) == bool(price.free_kind), price
    frame = price_frame()
    assert list(frame["service"]) == [p.service for p in PRICES.values()]
    assert {"price (USD)", "per", "free each month", "free tier", "source"} <= set(frame.columns)


def test_known_list_prices():
    """The figures the notebook shows (us-east-1): a change here is a deliberate price update."""
    assert PRICES["lambda_requests"].unit_price == pytest.approx(0.20 / 1e6)
    assert PRICES["lambda_compute"].unit_price == pytest.approx(0.0000166667)
    assert PRICES["http_api"].unit_price == pytest.approx(1.00 / 1e6)
    assert PRICES["ddb_writes"].unit_price == pytest.approx(0.625 / 1e6)
    assert PRICES["sqs"].unit_price == pytest.approx(0.40 / 1e6)
    assert PRICES["alarms"].usd == 0.10 and PRICES["dashboards"].usd == 3.00


def test_request_costs_grow_with_orders_and_idle_costs_with_hours():
    small = estimate(LabUsage(orders=100, hours_deployed=1, cloudwatch=QUIET))
    large = estimate(LabUsage(orders=10_000, hours_deployed=1, cloudwatch=QUIET))
    by_key = lambda rows: {row.price.key: row for row in rows}  # noqa: E731
    assert by_key(large)["lambda_requests"].quantity == pytest.approx(100 * by_key(small)["lambda_requests"].quantity)
    assert by_key(large)["ddb_writes"].list_cost == pytest.approx(100 * by_key(small)["ddb_writes"].list_cost)
    idle = {row.price.key: row.quantity for row in estimate(LabUsage(orders=0, hours_deployed=10, cloudwatch=QUIET))}
    assert idle["lambda_requests"] == 0 and idle["http_api"] == 0
    assert idle["sqs"] == pytest.approx(2 * 5 * 10 * 3600 / 20)  # Lambda's long polls of 2 queues
    assert idle["ddb_stream_reads"] == pytest.approx(2 * 4 * 10 * 3600)  # 2 pipes, 4 polls a second


def test_nothing_deployed_costs_nothing():
    nothing = LabUsage(
        orders=0,
        hours_deployed=0,
        alert_publishes=0,
        alert_emails=0,
        metrics_requested=0,
        website_requests=0,
        cloudwatch=QUIET,
    )
    assert total(estimate(nothing)) == 0


def test_the_free_tier_only_lowers_the_cost_and_covers_a_normal_run_of_lambda():
    rows = estimate(LabUsage())
    for row in rows:
        assert 0 <= row.cost_after_free_tier <= row.list_cost + 1e-12, row
        if row.price.free_kind != "always free":
            assert row.cost_after_free_tier == pytest.approx(row.list_cost), row  # 12-month offers not counted
    by_key = {row.price.key: row for row in rows}
    assert by_key["lambda_requests"].cost_after_free_tier == 0
    assert by_key["lambda_compute"].cost_after_free_tier == 0


def test_alarms_dashboards_and_metrics_are_charged_by_the_hour():
    inventory = CloudWatchInventory(alarms=5, custom_metrics=4, dashboards=1)
    month = {r.price.key: r for r in estimate(LabUsage(orders=0, hours_deployed=730, cloudwatch=inventory))}
    assert month["alarms"].list_cost == pytest.approx(0.50)
    assert month["dashboards"].list_cost == pytest.approx(3.00)
    assert month["custom_metrics"].list_cost == pytest.approx(1.20)
    assert month["dashboards"].cost_after_free_tier == 0  # 3 dashboards a month are free


def test_the_inventory_matches_what_step_6_creates_and_what_the_functions_publish():
    alerting = pytest.importorskip("helpers.pipeline.step6")
    inventory = cloudwatch_inventory("alice")
    assert inventory.alarms == len(alerting.ALARM_COMPONENTS) == len(catalog.ALARMS)
    assert inventory.alarm_names == tuple(f"alice-{c}" for c in alerting.ALARM_COMPONENTS.values())
    assert inventory.dashboard_names == (f"alice-{catalog.DASHBOARD_COMPONENT}",)
    # The catalog declares the metrics the handlers really publish (read from their code).
    assert "OrdersAccepted" in emf_metric_names()
    assert set(emf_metric_names()) == set(catalog.BUSINESS_METRICS)
    assert inventory.custom_metrics == len(catalog.BUSINESS_METRICS)
    frame = inventory_frame(inventory)
    assert list(frame["kind"]) == ["alarms", "custom metrics", "dashboards"]
    assert list(frame["count"]) == [inventory.alarms, inventory.custom_metrics, inventory.dashboards]


def test_a_whole_run_is_cheap_and_the_summary_says_so():
    usage = LabUsage()
    frame = estimate_frame(usage)
    assert frame.iloc[-1]["service"] == "total"
    assert frame.iloc[-1]["list cost (USD)"] == pytest.approx(total(estimate(usage)), abs=1e-4)
    assert total(estimate(usage)) < 1.0
    line = summary_line(usage)
    assert f"{usage.orders:,} orders" in line and "list prices" in line and "cleanup.ipynb" in line
    bigger = dataclasses.replace(usage, orders=100_000)
    assert total(estimate(bigger)) > total(estimate(usage))


def test_the_plan_names_every_resource_with_the_prefix():
    lab = Lab(Target("local", "us-east-1", "http://127.0.0.1:9"), "alice")
    frame = plan_frame(lab)
    assert all(name.startswith(("alice-", "/aws/lambda/alice-")) for name in frame["name"])
    assert set(frame["step"]) == {"01", "02", "03", "04", "05", "06"}
    # Every function has its own role and log group in the plan.
    functions = set(frame[frame["service"] == "Lambda"]["name"])
    roles = set(frame[frame["service"] == "IAM"]["name"])
    groups = set(frame[frame["service"] == "CloudWatch Logs"]["name"])
    assert {f"{f}-role" for f in functions} <= roles
    assert {f"/aws/lambda/{f}" for f in functions} == groups
    # The components are the ones the step modules create.
    components = {resource.component for resource in catalog.RESOURCES}
    for module, constants in {
        "helpers.pipeline.step1": ("ORDERS_COMPONENT", "CREATE_ORDER_COMPONENT", "API_COMPONENT"),
        "helpers.pipeline.step2": (
            "ORDER_QUEUE_COMPONENT",
            "ORDER_DLQ_COMPONENT",
            "STREAM_FAILURES_COMPONENT",
            "STREAM_PROCESSOR_COMPONENT",
        ),
        "helpers.pipeline.step3": ("ORDER_WORKER_COMPONENT",),
        "helpers.pipeline.step4": (
            "PIPE_COMPONENT",
            "PITFALL_PIPE_COMPONENT",
            "QUEUE_COMPONENT",
            "DLQ_COMPONENT",
            "PIPE_DLQ_COMPONENT",
            "PITFALL_QUEUE_COMPONENT",
            "ENRICHER_COMPONENT",
            "CONSUMER_COMPONENT",
        ),
        "helpers.pipeline.step6": ("ALERTS_TOPIC_COMPONENT", "ALERT_INBOX_COMPONENT", "DASHBOARD_COMPONENT"),
    }.items():
        step = pytest.importorskip(module)
        for constant in constants:
            assert getattr(step, constant) in components, (module, constant)
    # Every alarm step 6 creates is in the plan.
    alarms = set(frame[frame["service"] == "CloudWatch"]["name"])
    assert {f"alice-{c}" for c in pytest.importorskip("helpers.pipeline.step6").ALARM_COMPONENTS.values()} <= alarms
    text = plan_text(lab)
    assert "alice-orders" in text and "orderlab:prefix=alice" in text and "Cost:" in text
