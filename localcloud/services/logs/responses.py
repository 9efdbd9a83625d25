"""Amazon CloudWatch Logs (MiniStack ``services/cloudwatch_logs.py``): embedded metric format → metrics.

What it changes and why: docs/local-cloud-services.md, `localcloud/services/logs/responses.py`.

>>> line = ('{"_aws": {"Timestamp": 1574109732004, "CloudWatchMetrics": [{"Namespace": "lambda-function-metrics",'
...         ' "Dimensions": [["functionVersion"]], "Metrics": [{"Name": "time", "Unit": "Milliseconds"}]}]},'
...         ' "functionVersion": "$LATEST", "time": 100}')
>>> [(d.namespace, d.name, d.dimensions, d.values, d.unit) for d in parse_emf(line)]
[('lambda-function-metrics', 'time', {'functionVersion': '$LATEST'}, (100.0,), 'Milliseconds')]
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeGuard

from localcloud.patches import PatchError, wrap
from localcloud.services.awslambda.hooks import log_hooks
from localcloud.services.awslambda.runtime import ExecutionEnvironment, serving_environment
from localcloud.services.logs import export_calls
from localcloud.services.logs import store as log_store

logger = logging.getLogger("localcloud.logs")

MAX_DIMENSIONS_PER_SET = 30
MAX_METRICS_PER_DIRECTIVE = 100
MAX_VALUES_PER_METRIC = 100
MAX_NAME_LENGTH = 255  # Namespace, MetricName, dimension name (CloudWatch API limits)
MAX_DIMENSION_VALUE_LENGTH = 1024
STORAGE_RESOLUTIONS = (1, 60)
UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)
LAMBDA_START = "START RequestId: "


class EmfError(ValueError):
    """A log event that is an EMF document (it has ``_aws``) but breaks the specification."""


@dataclass(frozen=True)
class MetricDatum:
    """One extracted metric: a DimensionSet × MetricDefinition of one directive."""

    namespace: str
    name: str
    dimensions: dict[str, str]
    values: tuple[float, ...]
    unit: str
    storage_resolution: int
    timestamp: float  # seconds since the epoch


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME_LENGTH:
        raise EmfError(f"{what} must be a string of 1 to {MAX_NAME_LENGTH} characters, got {value!r}")
    return value


def _reject_constant(name: str) -> Any:
    raise EmfError(f"{name} is not a JSON number CloudWatch accepts")


def _document(message: str, *, lambda_output: bool) -> dict[str, Any] | None:
    """The JSON object of the event, or None when it is not JSON (an ordinary log line)."""
    text = message.strip()
    if not text.startswith("{") and lambda_output:
        # The Lambda runtime may prefix a line ("<time>\t<request id>\t<LEVEL>\t{...}").
        start = text.find("\t{")
        text = text[start + 1 :] if start >= 0 else text
    if not text.startswith("{") or '"_aws"' not in text:
        return None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def parse_emf(message: str, *, lambda_output: bool = False) -> list[MetricDatum]:
    """The metrics one log event publishes: [] for an ordinary line; :class:`EmfError` when the
    event is an EMF document (an object with ``_aws``) that breaks the specification."""
    document = _document(message, lambda_output=lambda_output)
    if document is None or "_aws" not in document:
        return []
    meta = document["_aws"]
    if not isinstance(meta, dict):
        raise EmfError("_aws must be an object")
    timestamp = meta.get("Timestamp")
    if not _number(timestamp) or timestamp < 0:
        raise EmfError(f"_aws.Timestamp must be a number of milliseconds since the epoch, got {timestamp!r}")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise EmfError("_aws.CloudWatchMetrics must be an array of MetricDirective objects")
    datums: list[MetricDatum] = []
    for directive in directives:
        datums.extend(_directive(directive, document, timestamp / 1000.0))
    return datums


def _directive(directive: Any, root: dict[str, Any], at: float) -> list[MetricDatum]:
    if not isinstance(directive, dict):
        raise EmfError("a MetricDirective must be an object")
    missing = [k for k in ("Namespace", "Dimensions", "Metrics") if k not in directive]
    if missing:
        raise EmfError(f"a MetricDirective lacks {', '.join(missing)}")
    namespace = _name(directive["Namespace"], "Namespace")
    dimension_sets = directive["Dimensions"]
    if not isinstance(dimension_sets, list):
        raise EmfError("Dimensions must be an array of DimensionSet arrays")
    resolved_sets = [_dimension_set(keys, root) for keys in dimension_sets]
    metrics = directive["Metrics"]
    if not isinstance(metrics, list):
        raise EmfError("Metrics must be an array of MetricDefinition objects")
    if len(metrics) > MAX_METRICS_PER_DIRECTIVE:
        raise EmfError(f"a MetricDirective has {len(metrics)} metrics, more than {MAX_METRICS_PER_DIRECTIVE}")
    datums = []
    for definition in metrics:
        name, values, unit, resolution = _metric(definition, root)
        for dimensions in resolved_sets:  # every DimensionSet creates a metric of its own
            datums.append(MetricDatum(namespace, name, dict(dimensions), values, unit, resolution, at))
    return datums


def _dimension_set(keys: Any, root: dict[str, Any]) -> dict[str, str]:
    if not isinstance(keys, list):
        raise EmfError(f"a DimensionSet must be an array of strings, got {keys!r}")
    if len(keys) > MAX_DIMENSIONS_PER_SET:
        raise EmfError(f"a DimensionSet has {len(keys)} keys, more than {MAX_DIMENSIONS_PER_SET}")
    dimensions: dict[str, str] = {}
    for key in keys:
        _name(key, "a dimension key")
        if key not in root:
            raise EmfError(f"dimension {key!r} is not a member of the root node")
        value = root[key]
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_DIMENSION_VALUE_LENGTH:
            raise EmfError(
                f"dimension {key!r} must have a string value of 1 to {MAX_DIMENSION_VALUE_LENGTH} "
                f"characters, got {value!r}"
            )
        dimensions[key] = value
    return dimensions


def _metric(definition: Any, root: dict[str, Any]) -> tuple[str, tuple[float, ...], str, int]:
    if not isinstance(definition, dict) or "Name" not in definition:
        raise EmfError(f"a MetricDefinition must be an object with a Name, got {definition!r}")
    name = _name(definition["Name"], "a metric Name")
    if name not in root:
        raise EmfError(f"metric {name!r} is not a member of the root node")
    target = root[name]
    raw = target if isinstance(target, list) else [target]
    if not all(_number(v) for v in raw):
        raise EmfError(f"metric {name!r} must be a number or an array of numbers, got {target!r}")
    if len(raw) > MAX_VALUES_PER_METRIC:
        raise EmfError(f"metric {name!r} has {len(raw)} values, more than {MAX_VALUES_PER_METRIC}")
    unit = definition.get("Unit", "None")
    if unit not in UNITS:
        raise EmfError(f"metric {name!r} has unit {unit!r}, not a CloudWatch unit")
    resolution = definition.get("StorageResolution", 60)
    if isinstance(resolution, bool) or resolution not in STORAGE_RESOLUTIONS:
        raise EmfError(f"metric {name!r} has StorageResolution {resolution!r}; it must be 1 or 60")
    return name, tuple(float(v) for v in raw), unit, int(resolution)


def extract(events: Iterable[dict[str, Any]], *, lambda_output: bool = False) -> list[MetricDatum]:
    """The metrics a batch of log events publishes; invalid documents are logged and skipped."""
    datums: list[MetricDatum] = []
    for event in events:
        message = event.get("message")
        if not isinstance(message, str) or '"_aws"' not in message:
            continue  # the cheap test keeps ordinary log lines at one substring search
        try:
            datums.extend(parse_emf(message, lambda_output=lambda_output))
        except EmfError as error:
            logger.warning("embedded metric format ignored (%s): %.200s", error, message)
    return datums


def is_lambda_batch(events: list[dict[str, Any]]) -> bool:
    """MiniStack writes a Lambda invocation's log as one batch starting ``START RequestId: ...``."""
    first = events[0].get("message") if events else None
    return isinstance(first, str) and first.startswith(LAMBDA_START)


def environment_stream_name(environment: ExecutionEnvironment, qualifier: str) -> str:
    """The log stream of an execution environment: ``YYYY/MM/DD/[version]<instance id>`` (its start date)."""
    day = time.strftime("%Y/%m/%d", time.gmtime(environment.started))
    return f"{day}/[{qualifier}]{environment.instance_id}"


def _event_timestamp(event: dict[str, Any]) -> int:
    return event["timestamp"]


def store_events(stream: dict[str, Any], events: list[dict[str, Any]], lock: Any) -> None:
    """MiniStack's ``_append_log_events`` on compact storage: events kept in time order (a late batch
    is merged in, stable), the stream's first/last event and last ingestion times updated."""
    if not events:
        return
    ordered = sorted(events, key=_event_timestamp)
    first, last = ordered[0]["timestamp"], ordered[-1]["timestamp"]
    with lock:
        history = log_store.compact_stream(stream)
        if history and history[-1]["timestamp"] > first:
            history.merge(ordered, key=_event_timestamp)
        else:
            history.extend(ordered)
        if stream.get("firstEventTimestamp") is None or first < stream["firstEventTimestamp"]:
            stream["firstEventTimestamp"] = first
        if stream.get("lastEventTimestamp") is None or last > stream["lastEventTimestamp"]:
            stream["lastEventTimestamp"] = last
        stream["lastIngestionTime"] = events[-1]["ingestionTime"]


def _new_group(cloudwatch_logs: Any, name: str, now_ms: int) -> dict[str, Any]:
    return {
        "arn": cloudwatch_logs._make_group_arn(name),
        "creationTime": now_ms,
        "retentionInDays": None,
        "tags": {},
        "subscriptionFilters": {},
        "streams": {},
    }


def _new_stream(now_ms: int) -> dict[str, Any]:
    return {
        "events": log_store.CompactEvents(),
        "uploadSequenceToken": "1",
        "creationTime": now_ms,
        "firstEventTimestamp": None,
        "lastEventTimestamp": None,
        "lastIngestionTime": None,
    }


def emit_to_environment_stream(
    lambda_svc: Any,
    cloudwatch_logs: Any,
    environment: ExecutionEnvironment,
    func: dict[str, Any],
    request_id: str,
    log_text: str,
    duration_ms: int,
) -> None:
    """MiniStack's Lambda log writer (same group, same START/END/REPORT lines, same subscription
    fan-out), writing to the serving environment's stream instead of a new one."""
    config = func.get("config") or func
    qualifier = config.get("Version", "$LATEST")
    group_name = (config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{config.get('FunctionName')}"
    stream_name = environment_stream_name(environment, qualifier)
    now_ms = int(time.time() * 1000)
    with cloudwatch_logs._log_events_lock:
        group = cloudwatch_logs._log_groups.get(group_name)
        if group is None:
            group = cloudwatch_logs._log_groups[group_name] = _new_group(cloudwatch_logs, group_name, now_ms)
        if stream_name not in group["streams"]:
            group["streams"][stream_name] = _new_stream(now_ms)
        stream = group["streams"][stream_name]
    if environment.init_ms is not None and environment.init_in_invocation:  # AWS reports the init apart
        duration_ms = max(1, duration_ms - round(environment.init_ms))
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms} ms\tBilled Duration: {duration_ms} ms\t"
        f"Memory Size: {config.get('MemorySize', 128)} MB\t"
        f"Max Memory Used: {lambda_svc._probe_peak_memory_mb(func)} MB"
    )
    if environment.init_ms is not None:  # the environment's first invocation: its cold start
        report += f"\tInit Duration: {environment.init_ms:.2f} ms"
    lines = [
        f"START RequestId: {request_id} Version: {qualifier}",
        *(log_text.splitlines() if log_text else []),
        f"END RequestId: {request_id}",
        report,
    ]
    cloudwatch_logs._append_log_events(
        stream, [{"timestamp": now_ms, "message": line, "ingestionTime": now_ms} for line in lines]
    )
    cloudwatch_logs._fanout_to_subscription_filters(
        group_name, stream_name, [{"timestamp": now_ms, "message": line} for line in lines]
    )


_IDENTIFIER = re.compile(r"[\w#+=/:,.@-]*")


def identifier_error(data: dict[str, Any]) -> str | None:
    """AWS's refusal of a ``logGroupIdentifier`` outside its pattern, e.g. the group's ``arn`` ending in ``:*``
    (the identifier takes the name or ``logGroupArn``)."""
    identifier = data.get("logGroupIdentifier")
    if isinstance(identifier, str) and not _IDENTIFIER.fullmatch(identifier):
        return (
            "1 validation error detected: Value at 'logGroupIdentifier' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\w#+=/:,.@-]*"
        )
    return None


def make_handle_request(original):
    from ministack.core.responses import error_response_json
    from ministack.services import cloudwatch_logs

    async def handle_request(method: str, path: str, headers: dict, body: bytes, query_params: dict) -> tuple:
        action = headers.get("x-amz-target", "").rpartition(".")[2]
        if action in export_calls.ACTIONS:
            return export_calls.handle(action, body)
        if body and b"logGroupIdentifier" in body:
            try:
                data = json.loads(body)
            except ValueError:
                data = None  # malformed JSON: the server answers it
            message = identifier_error(data) if isinstance(data, dict) else None
            if message:
                return error_response_json("InvalidParameterException", message, 400)
            if isinstance(data, dict) and headers.get("x-amz-target", "").endswith(".DescribeLogStreams"):
                body = json.dumps(by_group_name(data, cloudwatch_logs._resolve_log_group_name)).encode()
        return await original(method, path, headers, body, query_params)

    return handle_request


def by_group_name(data: dict[str, Any], resolve: Callable[[dict[str, Any]], str | None]) -> dict[str, Any]:
    """DescribeLogStreams with ``logGroupIdentifier`` (a name or ``logGroupArn``) asked by ``logGroupName``,
    the only form MiniStack reads there; ``resolve`` is MiniStack's own identifier resolver (GetLogEvents')."""
    if not isinstance(data.get("logGroupIdentifier"), str) or data.get("logGroupName"):
        return data
    return {**{k: v for k, v in data.items() if k != "logGroupIdentifier"}, "logGroupName": resolve(data)}


def write_to_environment_stream(
    func: dict, request_id: str, log_text: str, error: bool, duration_ms: int, *args: Any, **kwargs: Any
) -> bool:
    """Write a warm worker's invocation logs to its execution environment's stream; False: not one
    (MiniStack writes them)."""
    from ministack.services import cloudwatch_logs, lambda_svc

    environment = serving_environment.get()
    serving_environment.set(None)  # consumed: a later invocation on this thread sets its own
    config = func.get("config") or func
    if (
        environment is None
        or environment.function_name != config.get("FunctionName")
        or kwargs.get("log_source") == "rie"
    ):
        return False
    try:
        emit_to_environment_stream(lambda_svc, cloudwatch_logs, environment, func, request_id, log_text, duration_ms)
    except Exception:  # as MiniStack's writer: a failure to write logs never breaks the invocation
        logger.exception("CloudWatch Logs write failed for %s", config.get("FunctionName"))
    return True


def apply() -> None:
    from ministack.services import cloudwatch, cloudwatch_logs, lambda_svc

    for module, names in (
        (
            cloudwatch_logs,
            ("_append_log_events", "_make_group_arn", "_resolve_log_group_name", "_fanout_to_subscription_filters"),
        ),
        (lambda_svc, ("_emit_lambda_logs", "_probe_peak_memory_mb")),
        (cloudwatch, ("_store_datum", "_metric_bucket", "_dims_key")),
    ):
        missing = [n for n in names if not callable(getattr(module, n, None))]
        if missing:
            raise PatchError(f"cannot patch CloudWatch Logs: {module.__name__} lacks {', '.join(missing)}")
    for name in ("_log_events_lock", "_log_groups"):
        if not hasattr(cloudwatch_logs, name):
            raise PatchError(f"cannot patch CloudWatch Logs: {cloudwatch_logs.__name__} lacks {name}")

    def publish(datums: list[MetricDatum]) -> None:
        for d in datums:
            single = d.values[0] if len(d.values) == 1 else None
            many = list(d.values) if len(d.values) != 1 else None
            # Same store and shape as PutMetricData; alarms are evaluated on their schedule
            # (services/cloudwatch/), not here.
            cloudwatch._store_datum(
                d.namespace, d.name, dict(d.dimensions), d.timestamp, d.unit, single, many, None, None
            )
            if d.storage_resolution == 1:  # so a 10-30 s alarm sees these points second by second
                bucket = cloudwatch._metric_bucket((d.namespace, d.name, cloudwatch._dims_key(dict(d.dimensions))))
                for point in bucket[-len(d.values) :]:
                    point["StorageResolution"] = 1

    def make_append(original):
        def _append_log_events(stream, events, *args: Any, **kwargs: Any):
            # MiniStack's function, on compact storage (its late-batch path rebuilt a plain list).
            store_events(stream, list(events or []), cloudwatch_logs._log_events_lock)
            try:
                batch = list(events or [])
                datums = extract(batch, lambda_output=is_lambda_batch(batch))
                if datums:
                    publish(datums)
            except Exception:  # metrics are a by-product: never fail the write that carried them
                logger.exception("embedded metric format extraction failed")

        return _append_log_events

    wrap(cloudwatch_logs, "_append_log_events", make_append)
    log_hooks.add_writer(write_to_environment_stream)
    wrap(cloudwatch_logs, "handle_request", make_handle_request)
