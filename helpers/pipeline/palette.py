"""One colour per function, queue, status and alarm state across every figure of the series.

>>> colour_of("order_worker Errors") == SERIES_COLOURS["order-worker"] == colour_of("alice-order-worker")
True
>>> series_key("order queue: in flight"), series_key("OrdersRejected"), series_key("DLQ")
('order-queue', 'orders-rejected', 'order-dlq')
"""

from __future__ import annotations

import re

from helpers.pipeline import catalog

SERIES_COLOURS: dict[str, str] = {
    catalog.CREATE_ORDER.component: "#1f77b4",
    catalog.STREAM_PROCESSOR.component: "#9467bd",
    catalog.ORDER_WORKER.component: "#ff7f0e",
    catalog.HIGH_VALUE_ENRICHER.component: "#8c564b",
    catalog.HIGH_VALUE_CONSUMER.component: "#e377c2",
    catalog.ORDER_QUEUE_COMPONENT: "#2ca02c",
    catalog.ORDER_DLQ_COMPONENT: "#d62728",
    catalog.STREAM_FAILURES_COMPONENT: "#7f7f7f",
    catalog.HIGH_VALUE_QUEUE_COMPONENT: "#17becf",
    catalog.HIGH_VALUE_DLQ_COMPONENT: "#bcbd22",
    catalog.PITFALL_QUEUE_COMPONENT: "#aec7e8",
    "receives": "#ff7f0e",  # the worker's receives of an order: the worker's colour
    "orders-accepted": "#1f77b4",  # published by create_order
    "high-value-orders": "#e377c2",
    "orders-confirmed": "#1a7f37",
    "orders-rejected": "#cf222e",
}
STATUS_COLOURS = {"CONFIRMED": "#1a7f37", "REJECTED": "#cf222e", "PENDING": "#9a6700"}
ALARM_STATE_COLOURS = {"OK": "#1a7f37", "ALARM": "#cf222e", "INSUFFICIENT_DATA": "#8c959f"}
FALLBACK_COLOUR = "#444444"
_ALIASES = {"dlq": catalog.ORDER_DLQ_COMPONENT}


def series_key(label: str) -> str | None:
    """The palette key a series label belongs to (a component or package name, with or without the lab's
    prefix, followed by anything: ``"order_worker Errors"``, ``"alice-order-worker"``, ``"order queue: visible"``)."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", "-", str(label).split(":")[0].strip())
    text = text.lower().replace("_", "-").replace(" ", "-")
    if text in _ALIASES:
        return _ALIASES[text]
    for key in sorted(SERIES_COLOURS, key=len, reverse=True):
        if text == key or text.startswith(key + "-"):
            return key
    for key in sorted(SERIES_COLOURS, key=len, reverse=True):  # a prefixed resource name: "<prefix>-order-worker"
        if text.endswith("-" + key):
            return key
    return None


def colour_of(label: str) -> str:
    """The series' colour (the same in every figure of the series)."""
    key = series_key(label)
    return SERIES_COLOURS[key] if key else FALLBACK_COLOUR
