"""A live map of the pipeline: the architecture drawn once, with each part's figures, redrawn every second.

>>> live = PipelineMap(lab).start()      # in Jupyter: the map, updated in place   # doctest: +SKIP
>>> send_burst(lab, 20)                                                            # doctest: +SKIP
>>> live.stop()                          # the last frame stays in the notebook as an image   # doctest: +SKIP

Built only on what AWS offers (CloudWatch metrics, queue attributes, DescribePipe, DescribeAlarms),
so it works on every target; on AWS, Lambda and API Gateway metrics arrive about a minute late.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from helpers.aws.apigateway import find_http_apis
from helpers.aws.pipes import describe_pipe
from helpers.aws.sqs import find_queue_url
from helpers.core.lab import Lab
from helpers.ops.observability import MetricQuery, api_metric, metric_period, utcnow
from helpers.pipeline.catalog import (
    ALARMS,
    ALERTS_TOPIC_COMPONENT,
    API_COMPONENT,
    CREATE_ORDER,
    HIGH_VALUE_CONSUMER,
    HIGH_VALUE_DLQ_COMPONENT,
    HIGH_VALUE_ENRICHER,
    HIGH_VALUE_PIPE_COMPONENT,
    HIGH_VALUE_QUEUE_COMPONENT,
    ORDER_DLQ_COMPONENT,
    ORDER_QUEUE_COMPONENT,
    ORDER_WORKER,
    ORDERS_COMPONENT,
    STREAM_FAILURES_COMPONENT,
    STREAM_PROCESSOR,
)

__all__ = [
    "EDGES",
    "NODES",
    "MapFrame",
    "MapNode",
    "NodeFigures",
    "PipelineFigures",
    "PipelineMap",
    "draw_map",
    "figures_text",
    "read_pipeline",
]

Kind = Literal["api", "function", "table", "stream", "queue", "dlq", "pipe", "alarms", "topic"]
Health = Literal["absent", "idle", "ok", "problem"]


@dataclass(frozen=True)
class MapNode:
    """One part of the architecture, where it sits on the map (grid units), and the resource it shows."""

    key: str
    kind: Kind
    component: str
    title: str
    x: float
    y: float


NODES: tuple[MapNode, ...] = (
    MapNode("api", "api", API_COMPONENT, "HTTP API", 0, 2),
    MapNode("create-order", "function", CREATE_ORDER.component, "create-order", 1, 2),
    MapNode("orders", "table", ORDERS_COMPONENT, "orders table", 2, 2),
    MapNode("stream", "stream", ORDERS_COMPONENT, "table stream", 3, 2),
    MapNode("stream-processor", "function", STREAM_PROCESSOR.component, "stream-processor", 4, 2),
    MapNode("order-queue", "queue", ORDER_QUEUE_COMPONENT, "order-queue", 5, 2),
    MapNode("order-worker", "function", ORDER_WORKER.component, "order-worker", 6, 2),
    MapNode("stream-failures", "dlq", STREAM_FAILURES_COMPONENT, "stream-failures", 4, 1),
    MapNode("order-dlq", "dlq", ORDER_DLQ_COMPONENT, "order DLQ", 5, 1),
    MapNode("enricher", "function", HIGH_VALUE_ENRICHER.component, "enricher", 3, 3),
    MapNode("pipe", "pipe", HIGH_VALUE_PIPE_COMPONENT, "high-value pipe", 4, 3),
    MapNode("high-value-queue", "queue", HIGH_VALUE_QUEUE_COMPONENT, "high-value-queue", 5, 3),
    MapNode("high-value", "function", HIGH_VALUE_CONSUMER.component, "high-value", 6, 3),
    MapNode("high-value-dlq", "dlq", HIGH_VALUE_DLQ_COMPONENT, "high-value DLQ", 6, 4),
    MapNode("alarms", "alarms", "", "alarms", 1, 0.35),
    MapNode("topic", "topic", ALERTS_TOPIC_COMPONENT, "alerts topic", 2.6, 0.35),
)
EDGES: tuple[tuple[str, str], ...] = (
    ("api", "create-order"),
    ("create-order", "orders"),
    ("orders", "stream"),
    ("stream", "stream-processor"),
    ("stream-processor", "order-queue"),
    ("order-queue", "order-worker"),
    ("stream-processor", "stream-failures"),
    ("order-queue", "order-dlq"),
    ("stream", "pipe"),
    ("pipe", "enricher"),
    ("pipe", "high-value-queue"),
    ("high-value-queue", "high-value"),
    ("high-value-queue", "high-value-dlq"),
    ("alarms", "topic"),
)
_NODE = {node.key: node for node in NODES}
_LOCAL_WINDOW = timedelta(seconds=60)
_RELIST_MISSING = 30.0  # seconds between ListFunctions calls while a function of the map is missing
_AWS_WINDOW = timedelta(minutes=5)  # AWS publishes Lambda/API metrics about a minute late
_FILL = {"absent": "#f2f2f2", "idle": "#f7f9fc", "ok": "#e6f4ea", "problem": "#fde2e1"}
_EDGE = {"absent": "#b0b0b0", "idle": "#7a8a9e", "ok": "#2e7d32", "problem": "#c62828"}


@dataclass
class NodeFigures:
    """What one part shows: its figures (``values``), the lines drawn in its box, and its health."""

    present: bool = False
    values: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    health: Health = "absent"


@dataclass
class PipelineFigures:
    """The whole map's figures at one moment (``window``: how far back the metric sums reach)."""

    at: datetime
    window: timedelta
    nodes: dict[str, NodeFigures]

    def __getitem__(self, key: str) -> NodeFigures:
        return self.nodes[key]


@dataclass
class _Names:
    """Resource identifiers looked up once (and again while a part is still missing)."""

    queue_urls: dict[str, str] = field(default_factory=dict)
    api_id: str | None = None
    functions: set[str] | None = None  # the prefix's function names (ListFunctions, paginated)
    functions_listed: float = 0.0  # time.monotonic() of that listing


def read_pipeline(lab: Lab, *, window: timedelta | None = None, names: _Names | None = None) -> PipelineFigures:
    """Every part's figures now: requests, invocations, errors and p50 duration over ``window``
    (default: 60 s locally, 5 min on AWS), queue depths, the pipe's state, the alarms' states."""
    names = names or _Names()
    window = window or (_AWS_WINDOW if lab.target.is_aws else _LOCAL_WINDOW)
    now = utcnow()
    nodes = {node.key: NodeFigures() for node in NODES}
    _read_queues(lab, names, nodes)
    metrics = _read_metrics(lab, names, nodes, start=now - window, end=now)
    _read_functions(lab, names, metrics, nodes)
    _read_api(names, metrics, nodes)
    _read_pipe(lab, nodes)
    _read_alarms(lab, nodes)
    _read_plain(lab, nodes)
    return PipelineFigures(at=now, window=window, nodes=nodes)


def _read_queues(lab: Lab, names: _Names, nodes: dict[str, NodeFigures]) -> None:
    sqs = lab.client("sqs")
    for node in NODES:
        if node.kind not in ("queue", "dlq"):
            continue
        url = names.queue_urls.get(node.key) or find_queue_url(lab, lab.name(node.component))
        if url is None:
            continue
        names.queue_urls[node.key] = url
        try:
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
        except sqs.exceptions.QueueDoesNotExist:
            names.queue_urls.pop(node.key, None)
            continue
        visible = int(attributes.get("ApproximateNumberOfMessages", 0))
        in_flight = int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))
        figures = nodes[node.key]
        figures.present = True
        figures.values = {"visible": visible, "in_flight": in_flight}
        if node.kind == "dlq":
            figures.lines = [f"{visible} message{'s' * (visible != 1)}"]
            figures.health = "problem" if visible else "ok"
        else:
            figures.lines = [f"{visible} visible", f"{in_flight} in flight"]
            figures.health = "ok" if visible or in_flight else "idle"


def _function_nodes() -> list[MapNode]:
    return [node for node in NODES if node.kind == "function"]


def _read_metrics(
    lab: Lab, names: _Names, nodes: dict[str, NodeFigures], *, start: datetime, end: datetime
) -> dict[str, list[float]]:
    """One GetMetricData call for every function's and the API's metrics: label -> values."""
    if names.api_id is None:
        apis = find_http_apis(lab, API_COMPONENT)
        names.api_id = apis[0]["ApiId"] if apis else None
    queries: list[MetricQuery] = []
    for node in _function_nodes():
        function = lab.name(node.component)
        for metric, stat in (("Invocations", "Sum"), ("Errors", "Sum"), ("Duration", "p50")):
            queries.append(MetricQuery(f"{node.key} {metric}", "AWS/Lambda", metric, {"FunctionName": function}, stat))
    if names.api_id:
        queries += [api_metric(f"api {metric}", names.api_id, metric) for metric in ("Count", "4xx", "5xx")]
    period = metric_period(lab)
    ids = {f"q{index}": query for index, query in enumerate(queries)}
    found: dict[str, list[float]] = {}
    paginator = lab.client("cloudwatch").get_paginator("get_metric_data")
    for page in paginator.paginate(
        MetricDataQueries=[query.as_query(qid, period) for qid, query in ids.items()],
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampDescending",
    ):
        for result in page.get("MetricDataResults", []):
            found.setdefault(ids[result["Id"]].label, []).extend(float(v) for v in result.get("Values", []))
    return found


def _read_functions(lab: Lab, names: _Names, metrics: Mapping[str, list[float]], nodes: dict[str, NodeFigures]) -> None:
    existing = _existing_functions(lab, names)
    for node in _function_nodes():
        if lab.name(node.component) not in existing:
            continue
        invocations = int(sum(metrics.get(f"{node.key} Invocations", [])))
        errors = int(sum(metrics.get(f"{node.key} Errors", [])))
        durations = metrics.get(f"{node.key} Duration", [])
        p50 = durations[0] if durations else None  # newest period first
        figures = nodes[node.key]
        figures.present = True
        figures.values = {"invocations": invocations, "errors": errors, "p50_ms": p50}
        figures.lines = [
            f"{invocations} invocations · {errors} errors",
            f"p50 {p50:,.0f} ms" if p50 is not None else "p50 –",
        ]
        figures.health = "problem" if errors else ("ok" if invocations else "idle")


def _existing_functions(lab: Lab, names: _Names) -> set[str]:
    """The prefix's functions, listed once per map; again at most every :data:`_RELIST_MISSING`
    seconds while one of the map's functions is not there yet (ListFunctions pages through the
    whole account, too slow and too throttled on AWS for every frame)."""
    wanted = {lab.name(node.component) for node in _function_nodes()}
    cached = names.functions
    if cached is not None and (wanted <= cached or time.monotonic() - names.functions_listed < _RELIST_MISSING):
        return cached
    paginator = lab.client("lambda").get_paginator("list_functions")
    names.functions = {
        fn["FunctionName"]
        for page in paginator.paginate()
        for fn in page.get("Functions", [])
        if fn["FunctionName"].startswith(f"{lab.prefix}-")
    }
    names.functions_listed = time.monotonic()
    return names.functions


def _read_api(names: _Names, metrics: Mapping[str, list[float]], nodes: dict[str, NodeFigures]) -> None:
    if not names.api_id:
        return
    requests, client_errors, server_errors = (
        int(sum(metrics.get(f"api {metric}", []))) for metric in ("Count", "4xx", "5xx")
    )
    figures = nodes["api"]
    figures.present = True
    figures.values = {"requests": requests, "4xx": client_errors, "5xx": server_errors}
    figures.lines = [f"{requests} requests", f"{client_errors} 4xx · {server_errors} 5xx"]
    figures.health = "problem" if server_errors else ("ok" if requests else "idle")


def _read_pipe(lab: Lab, nodes: dict[str, NodeFigures]) -> None:
    pipe = describe_pipe(lab, lab.name(HIGH_VALUE_PIPE_COMPONENT))
    if pipe is None:
        return
    state = str(pipe.get("CurrentState", "?"))
    figures = nodes["pipe"]
    figures.present = True
    figures.values = {"state": state}
    figures.lines = [state]
    figures.health = "ok" if state == "RUNNING" else "problem"


def _read_alarms(lab: Lab, nodes: dict[str, NodeFigures]) -> None:
    wanted = {lab.name(alarm.component): alarm.key for alarm in ALARMS}
    paginator = lab.client("cloudwatch").get_paginator("describe_alarms")
    states = {
        wanted[alarm["AlarmName"]]: alarm["StateValue"]
        for page in paginator.paginate(AlarmNamePrefix=f"{lab.prefix}-", AlarmTypes=["MetricAlarm"])
        for alarm in page.get("MetricAlarms", [])
        if alarm["AlarmName"] in wanted
    }
    if not states:
        return
    figures = nodes["alarms"]
    figures.present = True
    figures.values = states
    figures.lines = [f"{key}: {state}" for key, state in states.items()]
    figures.health = "problem" if "ALARM" in states.values() else "ok"


def _read_plain(lab: Lab, nodes: dict[str, NodeFigures]) -> None:
    """The parts without live figures: present or not (the table and its stream, the topic)."""
    try:
        table = lab.client("dynamodb").describe_table(TableName=lab.name(ORDERS_COMPONENT))["Table"]
    except lab.client("dynamodb").exceptions.ResourceNotFoundException:
        table = None
    if table is not None:
        nodes["orders"] = NodeFigures(
            True, {"status": table.get("TableStatus")}, [str(table.get("TableStatus"))], "idle"
        )
        view = (table.get("StreamSpecification") or {}).get("StreamViewType")
        if view:
            nodes["stream"] = NodeFigures(True, {"view": view}, [view], "idle")
    topic = f"arn:aws:sns:{lab.region}:{lab.account_id}:{lab.name(ALERTS_TOPIC_COMPONENT)}"
    try:
        subscriptions = lab.client("sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    except lab.client("sns").exceptions.NotFoundException:
        return
    nodes["topic"] = NodeFigures(
        True,
        {"subscriptions": len(subscriptions)},
        [f"{len(subscriptions)} subscription{'s' * (len(subscriptions) != 1)}"],
        "idle",
    )


_BOX_W, _BOX_H = 0.78, 0.62


def draw_map(figures: PipelineFigures, *, title: str | None = None) -> Figure:
    """The map as a matplotlib figure: a box per part (coloured by health), arrows for the flow."""
    fig = Figure(figsize=(13, 6.2))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 0.93))
    ax.set_xlim(-0.55, 6.55)
    ax.set_ylim(-0.2, 4.45)
    ax.axis("off")
    heights = {node.key: _BOX_H + (0.14 * max(0, len(figures[node.key].lines) - 2)) for node in NODES}
    for source, target in EDGES:
        a, b = _NODE[source], _NODE[target]
        health = "absent" if not (figures[source].present and figures[target].present) else "idle"
        start = _box_edge((a.x, a.y), (b.x, b.y), heights[source])
        end = _box_edge((b.x, b.y), (a.x, a.y), heights[target])
        ax.add_patch(
            FancyArrowPatch(
                start,
                end,
                arrowstyle="-|>",
                mutation_scale=12,
                shrinkA=1,
                shrinkB=1,
                color=_EDGE[health],
                linewidth=1.2,
                zorder=1,
            )
        )
    for node in NODES:
        shown = figures[node.key]
        height = heights[node.key]
        ax.add_patch(
            FancyBboxPatch(
                (node.x - _BOX_W / 2, node.y - height / 2),
                _BOX_W,
                height,
                boxstyle="round,pad=0.02",
                facecolor=_FILL[shown.health],
                edgecolor=_EDGE[shown.health],
                linewidth=1.4,
                zorder=2,
            )
        )
        ax.text(
            node.x,
            node.y + height / 2 - 0.12,
            node.title,
            ha="center",
            va="center",
            fontsize=9,
            fontweight="bold",
            zorder=3,
        )
        lines = shown.lines if shown.present else ["not deployed"]
        ax.text(
            node.x,
            node.y + height / 2 - 0.27,
            "\n".join(lines),
            ha="center",
            va="top",
            fontsize=7.5,
            color="#333333" if shown.present else "#888888",
            linespacing=1.35,
            zorder=3,
        )
    window = int(figures.window.total_seconds())
    fig.suptitle(
        title or f"Order pipeline at {figures.at:%H:%M:%S} UTC — sums over the last {window} s",
        fontsize=11,
        x=0.02,
        ha="left",
        y=0.985,
    )
    return fig


def _box_edge(centre: tuple[float, float], towards: tuple[float, float], height: float) -> tuple[float, float]:
    """Where the line from a box's centre towards another point leaves the box."""
    dx, dy = towards[0] - centre[0], towards[1] - centre[1]
    half_w, half_h = _BOX_W / 2 + 0.02, height / 2 + 0.02
    scale = min(half_w / abs(dx) if dx else float("inf"), half_h / abs(dy) if dy else float("inf"))
    return centre[0] + dx * scale, centre[1] + dy * scale


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()


class PipelineMap:
    """The map, redrawn in place every ``interval`` seconds while orders flow (a background thread).

    The frame is one notebook output updated in place (an IPython display handle), so the last
    frame is what a saved or headless-run notebook keeps. Also a context manager:
    ``with PipelineMap(lab): send_burst(api, 20)``.
    """

    def __init__(self, lab: Lab, *, interval: float = 1.0, window: timedelta | None = None) -> None:
        self.lab = lab
        self.interval = interval
        self.window = window
        self.frames = 0
        self.last: PipelineFigures | None = None
        self.error: str | None = None
        self._names = _Names()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle: Any = None
        self._drawn: list[tuple[Health, list[str]]] | None = None

    def refresh(self) -> PipelineFigures:
        """Read every part once and redraw if anything shown changed (what the thread does each interval)."""
        figures = read_pipeline(self.lab, window=self.window, names=self._names)
        self.last = figures
        self.frames += 1
        drawn = [(part.health, part.lines) for part in figures.nodes.values()]
        if self._handle is not None and drawn != self._drawn:  # drawing costs CPU the pipeline could use
            self._handle.update(_image(figures))
            self._drawn = drawn
        return figures

    def start(self) -> PipelineMap:
        from IPython.display import display

        figures = read_pipeline(self.lab, window=self.window, names=self._names)
        self._handle = display(_image(figures), display_id=True)  # None outside IPython
        self.last, self.frames = figures, 1
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pipeline-map", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except Exception as error:
                self.error = f"{type(error).__name__}: {error}"

    def stop(self) -> PipelineFigures:
        """Stop the updates after one last frame (the one the notebook keeps)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        figures = self.refresh()
        if self.error:
            print(f"(the map missed an update: {self.error})")
        return figures

    def __enter__(self) -> PipelineMap:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class MapFrame:
    """One frame for IPython: the drawn map (``image/png``) and the same figures as text
    (``text/plain``, one line per part), so a saved notebook and a test can read the values too."""

    def __init__(self, figures: PipelineFigures) -> None:
        self.png = _png(draw_map(figures))
        self.text = figures_text(figures)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": self.text}


def figures_text(figures: PipelineFigures) -> str:
    """The map as text: ``HTTP API: 6 requests; 0 4xx · 0 5xx`` for each deployed part.

    >>> from datetime import UTC
    >>> nodes = {node.key: NodeFigures() for node in NODES}
    >>> nodes["api"] = NodeFigures(True, {"requests": 6}, ["6 requests", "0 4xx · 0 5xx"], "ok")
    >>> print(figures_text(PipelineFigures(datetime(2026, 1, 1, tzinfo=UTC), timedelta(seconds=60), nodes)))
    pipeline map at 00:00:00 UTC (figures over the last 60 s)
    HTTP API: 6 requests; 0 4xx · 0 5xx
    """
    seconds = figures.window.total_seconds()
    lines = [f"pipeline map at {figures.at:%H:%M:%S} UTC (figures over the last {seconds:.0f} s)"]
    for node in NODES:
        part = figures.nodes[node.key]
        if part.present:
            lines.append(f"{node.title}: {'; '.join(part.lines)}")
    return "\n".join(lines)


def _image(figures: PipelineFigures) -> MapFrame:
    return MapFrame(figures)
