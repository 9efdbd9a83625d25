"""Pipes' pure parts: configuration checks, filters, templates, batching, records, state transitions.

>>> settled_state("STARTING", "RUNNING")
'RUNNING'
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from localcloud.services.awslambda.event_sources import iso_millis, stream_failure_record
from localcloud.services.eventbridge.patterns import EventPattern, InvalidEventPattern, compile_pattern

TRANSITION_SECONDS = 0.2  # CREATING/STARTING/STOPPING/UPDATING/DELETING -> settled
IDLE_TICK_SECONDS = 1.0  # longest sleep of an idle pipe thread (the wake hook makes it rarely matter)
ERROR_PAUSE_SECONDS = 1.0  # after an unexpected error in a pass
STOP_JOIN_SECONDS = 60.0  # how long STOPPING/UPDATING/DELETING waits for the batch in flight
STREAM_SCAN_LIMIT = 10000  # stream records read per pass to fill one batch

RUNNING, STOPPED = "RUNNING", "STOPPED"
CREATING, STARTING, STOPPING, UPDATING, DELETING = "CREATING", "STARTING", "STOPPING", "UPDATING", "DELETING"
DELETED = "DELETED"
TRANSITIONAL = frozenset({CREATING, STARTING, STOPPING, UPDATING, DELETING})
FAILED_STATES = frozenset(
    {
        "CREATE_FAILED",
        "UPDATE_FAILED",
        "START_FAILED",
        "STOP_FAILED",
        "DELETE_FAILED",
        "CREATE_ROLLBACK_FAILED",
        "DELETE_ROLLBACK_FAILED",
        "UPDATE_ROLLBACK_FAILED",
    }
)
FAILED_AFTER = {CREATING: "CREATE_FAILED", UPDATING: "UPDATE_FAILED", STARTING: "START_FAILED"}

SOURCE_DEFAULT_BATCH = {"dynamodb": 100, "sqs": 10}
TARGET_MAX_BATCH = {"sqs": 10, "sns": 10}  # Lambda: "customer defined"
SUPPORTED_SOURCES = "a DynamoDB stream or an Amazon SQS queue"
SUPPORTED_TARGETS = "an Amazon SQS queue, an AWS Lambda function or an Amazon SNS topic"
SUPPORTED_ENRICHMENTS = "an AWS Lambda function"
TARGET_PARAMETER_KEYS = {"sqs": "SqsQueueParameters", "lambda": "LambdaFunctionParameters", "sns": None}
SOURCE_PARAMETER_KEYS = {"dynamodb": "DynamoDBStreamParameters", "sqs": "SqsQueueParameters"}

_NAME = re.compile(r"^[.\-_A-Za-z0-9]{1,64}$")
_ROLE_ARN = re.compile(r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z0-9+=,.@\-_/]+$")
_ARN = re.compile(
    r"^arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-]+):([a-z]{2,4}((-gov)|(-de)|(-iso([a-z]?)))?-[a-z]+(-\d{1})?)?:"
    r"(\d{12})?:(.+)$"
)


class Missing:
    """A JSON path that matches nothing (distinct from a JSON ``null``)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = Missing()
_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")


def json_path(value: Any, path: str) -> Any:
    """Evaluate the JSON path subset Pipes supports (``$``, ``.name``, ``[3]``, ``[*]``, ``.*``).

    A path with a wildcard gives the list of what matched; no match gives :data:`MISSING`.

    >>> json_path({"a": {"b": [1, {"c": 2}]}}, "$.a.b[1].c")
    2
    >>> json_path({"a": [{"x": 1}, {"x": 2}]}, "$.a[*].x")
    [1, 2]
    >>> json_path({}, "$.nope")
    MISSING
    """
    if not path.startswith("$"):
        return MISSING
    rest, position, tokens = path[1:], 0, []
    while position < len(rest):
        match = _PATH_TOKEN.match(rest, position)
        if match is None:
            return MISSING
        tokens.append(
            match.group(1) if match.group(1) is not None else ("*" if match.group(2) == "*" else int(match.group(2)))
        )
        position = match.end()
    current, wildcard = [value], False
    for token in tokens:
        following: list[Any] = []
        for item in current:
            if token == "*":
                wildcard = True
                following.extend(item.values() if isinstance(item, dict) else item if isinstance(item, list) else [])
            elif isinstance(token, int):
                if isinstance(item, list) and 0 <= token < len(item):
                    following.append(item[token])
            elif isinstance(item, dict) and token in item:
                following.append(item[token])
        current = following
    if wildcard:
        return current if current else MISSING
    return current[0] if current else MISSING


def parsed_body(body: Any) -> Any:
    """An SQS ``body`` as Pipes filters and transforms it: parsed when it is a JSON object or array."""
    if not isinstance(body, str):
        return body
    try:
        value = json.loads(body)
    except ValueError:
        return body
    return value if isinstance(value, (dict, list)) else body


def decoded_event(event: Any) -> Any:
    """The event with an SQS ``body`` decoded ("implicit body data parsing"); others unchanged."""
    if isinstance(event, dict) and event.get("eventSource") == "aws:sqs" and isinstance(event.get("body"), str):
        decoded = parsed_body(event["body"])
        if decoded is not event["body"]:
            return {**event, "body": decoded}
    return event


_PLACEHOLDER = re.compile(r"<(\$(?:[.\[][^<>\s]*)?|aws\.pipes\.[A-Za-z0-9.\-]+)>")


def _as_text(value: Any) -> str:
    """A value placed inside text: strings as they are, objects/arrays as JSON without quotes."""
    if value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value).replace('"', "")  # "EventBridge removes any internal quotes"
    return json.dumps(value)


def _inside_string(text: str, in_string: bool) -> bool:
    """Whether a JSON template is inside a string literal after ``text``."""
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = in_string
        elif char == '"':
            in_string = not in_string
    return in_string


def render_template(template: str, event: Any, variables: Mapping[str, Any], *, now: float) -> str:
    """Render an ``InputTemplate`` for one event.

    ``variables`` holds the reserved ``aws.pipes.*`` values of the pipe (pipe-arn, pipe-name,
    source-arn, enrichment-arn, target-arn). A template that starts with ``{`` or ``[`` is JSON:
    a placeholder in a value position becomes a JSON value (a string gets its quotes, an object or
    array is inserted as JSON), inside a string literal it becomes escaped text. Any other template
    is text: strings as they are, objects and arrays as JSON without their quotes (the doc's
    ``{"key": "value"}`` -> ``{key: value}``). ``<aws.pipes.event>`` is the event as JSON text,
    ``<aws.pipes.event.json>`` the event as JSON (SQS body decoded), only when it is JSON.

    >>> render_template('{"id": <$.body.id>, "n": <$.body.n>}', {"eventSource": "aws:sqs",
    ...                 "body": '{"id": "o-1", "n": 3}'}, {}, now=0)
    '{"id": "o-1", "n": 3}'
    >>> render_template("Order <$.body.id> from <aws.pipes.pipe-name>", {"body": {"id": "o-1"}},
    ...                 {"pipe-name": "p"}, now=0)
    'Order o-1 from p'
    """
    decoded = decoded_event(event)
    is_json = template.lstrip()[:1] in ("{", "[")

    def value_of(name: str) -> Any:
        if name.startswith("$"):
            return json_path(decoded, name)
        key = name[len("aws.pipes.") :]
        if key == "event":
            return event if isinstance(event, str) else json.dumps(event)
        if key == "event.json":  # "only has a value if the original payload ... is JSON"
            value = parsed_body(decoded) if isinstance(decoded, str) else decoded
            return value if not isinstance(value, str) else MISSING
        if key == "event.ingestion-time":
            return iso_millis(now)
        value = variables.get(key, MISSING)
        return MISSING if value in (None, "") and key == "enrichment-arn" else value

    out: list[str] = []
    in_string, last = False, 0
    for match in _PLACEHOLDER.finditer(template):
        literal = template[last : match.start()]
        out.append(literal)
        in_string = _inside_string(literal, in_string) if is_json else in_string
        value = value_of(match.group(1))
        if not is_json:
            out.append(_as_text(value))
        elif in_string:
            out.append(json.dumps(_as_text(value))[1:-1])
        else:
            out.append("null" if value is MISSING else json.dumps(value))
        last = match.end()
    out.append(template[last:])
    return "".join(out)


def template_value(text: str) -> Any:
    """A rendered template as an element of a Lambda batch: JSON when it parses, else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def dynamic_parameter(value: str | None, event: Any) -> str | None:
    """A target parameter that may be a JSON path of the event ("dynamic path parameters")."""
    if value is None or not value.startswith("$"):
        return value
    found = json_path(decoded_event(event), value)
    if found is MISSING or found is None:
        return None
    return found if isinstance(found, str) else json.dumps(found)


def enrichment_events(payload: Any) -> list[Any]:
    """What a Lambda enrichment returned, as the batch for the target.

    ``""``, ``{}``, ``[]`` or nothing: no event (the target is not invoked); an array: its
    elements; anything else: that one event.

    >>> enrichment_events([{"a": 1}]), enrichment_events({}), enrichment_events('[{"b": 2}]')
    ([{'a': 1}], [], [{'b': 2}])
    """
    if isinstance(payload, (bytes, bytearray)):
        payload = payload.decode("utf-8", errors="replace")
    if isinstance(payload, str):
        if not payload.strip():
            return []
        try:
            payload = json.loads(payload)
        except ValueError:
            return [payload]
    if payload is None or payload == "" or payload == {} or payload == []:
        return []
    return list(payload) if isinstance(payload, list) else [payload]


def collect_batch(records: list[dict], batch_size: int, keep: Callable[[dict], bool]) -> tuple[list[int], int]:
    """Fill one batch from stream records read at a checkpoint.

    Returns (indexes of the records that pass the filter, up to ``batch_size``; how many records
    the batch consumes: through its last event when full, else all that were read). Filtered-out
    records are consumed too, so the checkpoint moves past them.

    >>> collect_batch([{"v": 1}, {"v": 2}, {"v": 3}, {"v": 4}], 1, lambda r: r["v"] % 2 == 0)
    ([1], 2)
    """
    kept: list[int] = []
    for index, record in enumerate(records):
        if keep(record):
            kept.append(index)
            if len(kept) >= batch_size:
                return kept, index + 1
    return kept, len(records)


def batch_wait(count: int, batch_size: int, window_seconds: float, first_seen: float, now: float) -> float | None:
    """Seconds before a batch of ``count`` events goes (0: now), or None when there is none.

    A batch goes when it is full or when the batching window, counted from its first event, has
    passed; a window of 0 sends what there is at once.

    >>> batch_wait(3, 10, 5, first_seen=100.0, now=101.0), batch_wait(10, 10, 5, 100.0, 101.0)
    (4.0, 0.0)
    """
    if count <= 0:
        return None
    if count >= batch_size or window_seconds <= 0:
        return 0.0
    return max(first_seen + window_seconds - now, 0.0)


class PipeConflict(Exception):
    """The pipe is in a state this lifecycle call cannot start from (ConflictException)."""


def begin_transition(current: str, action: str) -> str | None:
    """The transitional state a lifecycle call moves a pipe to; None when there is nothing to do.

    ``action`` is start, stop, update or delete. Raises :class:`PipeConflict` while another
    transition runs (DeletePipe is always accepted).

    >>> begin_transition("RUNNING", "stop"), begin_transition("STOPPED", "stop"), begin_transition("STOPPED", "start")
    ('STOPPING', None, 'STARTING')
    """
    if action == "delete":
        return None if current == DELETING else DELETING
    if current in TRANSITIONAL:
        raise PipeConflict(current)
    if action == "start":
        return None if current == RUNNING else STARTING
    if action == "stop":
        return None if current == STOPPED else STOPPING
    if action == "update":
        return UPDATING
    raise ValueError(f"unknown pipe action {action!r}")


def settled_state(transitional: str, desired: str) -> str:
    """Where a transitional state ends (``DELETED``: the pipe is gone).

    >>> settled_state("CREATING", "STOPPED"), settled_state("STOPPING", "STOPPED"), settled_state("UPDATING", "RUNNING")
    ('STOPPED', 'STOPPED', 'RUNNING')
    """
    return {CREATING: desired, STARTING: RUNNING, STOPPING: STOPPED, UPDATING: desired, DELETING: DELETED}[transitional]


def arn_service(arn: str) -> str:
    """The service part of an ARN ('' when it is not an ARN)."""
    match = _ARN.match(arn or "")
    return match.group(2) if match else ""


def source_kind(source: str) -> str | None:
    """``dynamodb`` for a DynamoDB stream ARN, ``sqs`` for a queue ARN, else None."""
    service = arn_service(source)
    if service == "dynamodb" and "/stream/" in source and ":table/" in source:
        return "dynamodb"
    if service == "sqs":
        return "sqs"
    return None


def _int_in(params: Mapping[str, Any], name: str, low: int, high: int, where: str) -> str | None:
    if name not in params or params[name] is None:
        return None
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"{where}.{name} must be an integer between {low} and {high}, got {value!r}."
    return None


def configuration_error(
    source: str,
    target: str,
    enrichment: str | None,
    source_parameters: Mapping[str, Any],
    target_parameters: Mapping[str, Any],
    enrichment_parameters: Mapping[str, Any],
) -> str | None:
    """Why this pipe configuration cannot run in the local cloud (or on AWS), or None."""
    kind = source_kind(source)
    if kind is None:
        return (
            f"The local cloud's EventBridge Pipes supports {SUPPORTED_SOURCES} as the source, not {source!r} "
            "(AWS also offers Kinesis, Amazon MQ, Amazon MSK and self-managed Apache Kafka sources)."
        )
    target_service = arn_service(target)
    if target_service not in TARGET_PARAMETER_KEYS:
        return (
            f"The local cloud's EventBridge Pipes supports {SUPPORTED_TARGETS} as the target, not {target!r} "
            f"(AWS also offers other targets; the local cloud does not run them)."
        )
    if enrichment and arn_service(enrichment) != "lambda":
        return (
            f"The local cloud's EventBridge Pipes supports {SUPPORTED_ENRICHMENTS} as the enrichment, "
            f"not {enrichment!r} (AWS also offers Step Functions, API Gateway and API destinations)."
        )
    wanted = SOURCE_PARAMETER_KEYS[kind]
    for key in SOURCE_PARAMETER_KEYS.values():
        if key != wanted and source_parameters.get(key):
            return f"SourceParameters.{key} does not apply to the source {source}; use {wanted}."
    unknown = [k for k in source_parameters if k not in (wanted, "FilterCriteria")]
    if unknown:
        return f"SourceParameters.{unknown[0]} does not apply to the source {source}."
    params = source_parameters.get(wanted) or {}
    where = f"SourceParameters.{wanted}"
    for name, low, high in (("BatchSize", 1, 10000), ("MaximumBatchingWindowInSeconds", 0, 300)):
        error = _int_in(params, name, low, high, where)
        if error:
            return error
    if kind == "dynamodb":
        if params.get("StartingPosition") not in ("LATEST", "TRIM_HORIZON"):
            return f"{where}.StartingPosition is required for a DynamoDB stream source: LATEST or TRIM_HORIZON."
        for name, low, high in (
            ("MaximumRetryAttempts", -1, 10000),
            ("MaximumRecordAgeInSeconds", -1, 604800),
            ("ParallelizationFactor", 1, 10),
        ):
            error = _int_in(params, name, low, high, where)
            if error:
                return error
        if params.get("OnPartialBatchItemFailure") not in (None, "AUTOMATIC_BISECT"):
            return f"{where}.OnPartialBatchItemFailure must be AUTOMATIC_BISECT."
        dead_letter = (params.get("DeadLetterConfig") or {}).get("Arn")
        if dead_letter and arn_service(dead_letter) not in ("sqs", "sns"):
            return f"{where}.DeadLetterConfig.Arn must be an Amazon SQS queue or Amazon SNS topic ARN."
    target_max = TARGET_MAX_BATCH.get(target_service)
    batch = params.get("BatchSize")
    if target_max and batch and batch > target_max:
        return (
            f"{where}.BatchSize {batch} is larger than the {target_max} the target {target} takes in one batch: "
            f"use a BatchSize of at most {target_max}."
        )
    allowed = {"InputTemplate", TARGET_PARAMETER_KEYS[target_service]}
    extra = [k for k, v in target_parameters.items() if v not in (None, {}) and k not in allowed]
    if extra:
        return f"TargetParameters.{extra[0]} does not apply to the target {target}."
    invocation = (target_parameters.get("LambdaFunctionParameters") or {}).get("InvocationType")
    if invocation not in (None, "REQUEST_RESPONSE", "FIRE_AND_FORGET"):
        return "TargetParameters.LambdaFunctionParameters.InvocationType must be REQUEST_RESPONSE or FIRE_AND_FORGET."
    extra = [k for k, v in enrichment_parameters.items() if v not in (None, {}) and k != "InputTemplate"]
    if extra:
        return f"EnrichmentParameters.{extra[0]} does not apply to a Lambda enrichment."
    for name, template in (
        ("TargetParameters", target_parameters.get("InputTemplate")),
        ("EnrichmentParameters", enrichment_parameters.get("InputTemplate")),
    ):
        if template is not None and (not isinstance(template, str) or len(template) > 8192):
            return f"{name}.InputTemplate must be a string of at most 8192 characters."
    return None


def compile_filters(source_parameters: Mapping[str, Any]) -> tuple[EventPattern, ...]:
    """The FilterCriteria patterns, compiled; raises InvalidEventPattern with EventBridge's message."""
    filters = ((source_parameters.get("FilterCriteria") or {}).get("Filters")) or []
    compiled = []
    for entry in filters:
        pattern = (entry or {}).get("Pattern")
        if pattern is None:
            continue
        if isinstance(pattern, str) and len(pattern) > 4096:
            raise InvalidEventPattern("Pattern is longer than 4096 characters")
        compiled.append(compile_pattern(pattern))
    return tuple(compiled)


# What UpdatePipe can change (the source, name and tags cannot).
UPDATABLE_FIELDS = (
    "Description",
    "RoleArn",
    "Target",
    "Enrichment",
    "SourceParameters",
    "EnrichmentParameters",
    "TargetParameters",
)


def merge_update(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """The pipe configuration after UpdatePipe: named fields replaced, each parameters object whole.

    >>> merge_update({"Enrichment": "arn:e", "EnrichmentParameters": {"InputTemplate": "x"}}, {"Enrichment": ""})
    {}
    """
    merged = {k: copy.deepcopy(v) for k, v in current.items() if k in UPDATABLE_FIELDS}
    for key in ("Description", "RoleArn"):
        if key in update:
            merged[key] = update[key] or ""
    if update.get("Target"):
        merged["Target"] = update["Target"]
    if "Enrichment" in update:
        if update["Enrichment"]:
            merged["Enrichment"] = update["Enrichment"]
        else:
            merged.pop("Enrichment", None)
            merged.pop("EnrichmentParameters", None)
    for key in ("SourceParameters", "EnrichmentParameters", "TargetParameters"):
        if key not in update or update[key] is None or (key == "EnrichmentParameters" and "Enrichment" not in merged):
            continue
        section = dict(merged.get(key) or {})
        for inner, value in update[key].items():
            section[inner] = copy.deepcopy(value)
        if key == "SourceParameters":
            if not ((section.get("FilterCriteria") or {}).get("Filters")):
                section.pop("FilterCriteria", None)  # "an empty array of Filter objects" removes it
            old_stream = (current.get("SourceParameters") or {}).get("DynamoDBStreamParameters") or {}
            start = old_stream.get("StartingPosition") or current.get("StartingPosition")
            if section.get("DynamoDBStreamParameters") and start:  # cannot be updated: the stream keeps it
                section["DynamoDBStreamParameters"] = {**section["DynamoDBStreamParameters"], "StartingPosition": start}
        section = {k: v for k, v in section.items() if v not in (None, "")}
        if section:
            merged[key] = section
        else:
            merged.pop(key, None)
    return {k: v for k, v in merged.items() if v not in (None, "") or k == "Description"}


def _setting(params: Mapping[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    return default if value is None else int(value)


@dataclass(frozen=True)
class PipeConfig:
    """A pipe's record, read once per configuration version, with AWS's defaults applied."""

    name: str
    arn: str
    source: str
    target: str
    enrichment: str | None
    source_kind: str
    target_kind: str
    batch_size: int
    window_seconds: int
    max_retries: int
    max_age_seconds: int
    bisect: bool
    dead_letter_arn: str | None
    filters: tuple[EventPattern, ...]
    enrichment_template: str | None
    target_template: str | None
    invocation_type: str
    message_group_id: str | None
    message_deduplication_id: str | None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PipeConfig:
        source_parameters = record.get("SourceParameters") or {}
        kind = source_kind(record.get("Source", "")) or ""
        target_kind = arn_service(record.get("Target", ""))
        params = source_parameters.get(SOURCE_PARAMETER_KEYS.get(kind, ""), {}) or {}
        default_batch = min(SOURCE_DEFAULT_BATCH.get(kind, 10), TARGET_MAX_BATCH.get(target_kind, 10000))
        target_parameters = record.get("TargetParameters") or {}
        sqs_target = target_parameters.get("SqsQueueParameters") or {}
        return cls(
            name=record.get("Name", ""),
            arn=record.get("Arn", ""),
            source=record.get("Source", ""),
            target=record.get("Target", ""),
            enrichment=record.get("Enrichment") or None,
            source_kind=kind,
            target_kind=target_kind,
            batch_size=int(params.get("BatchSize") or default_batch),
            window_seconds=int(params.get("MaximumBatchingWindowInSeconds") or 0),
            max_retries=_setting(params, "MaximumRetryAttempts", -1),
            max_age_seconds=_setting(params, "MaximumRecordAgeInSeconds", -1),
            bisect=params.get("OnPartialBatchItemFailure") == "AUTOMATIC_BISECT",
            dead_letter_arn=(params.get("DeadLetterConfig") or {}).get("Arn") or None,
            filters=compile_filters(source_parameters),
            enrichment_template=(record.get("EnrichmentParameters") or {}).get("InputTemplate"),
            target_template=target_parameters.get("InputTemplate"),
            invocation_type=(target_parameters.get("LambdaFunctionParameters") or {}).get("InvocationType")
            or "REQUEST_RESPONSE",
            message_group_id=sqs_target.get("MessageGroupId"),
            message_deduplication_id=sqs_target.get("MessageDeduplicationId"),
        )

    @property
    def variables(self) -> dict[str, Any]:
        """The reserved ``aws.pipes.*`` values of this pipe."""
        return {
            "pipe-arn": self.arn,
            "pipe-name": self.name,
            "source-arn": self.source,
            "enrichment-arn": self.enrichment or "",
            "target-arn": self.target,
        }

    def matches(self, record: dict) -> bool:
        """The record passes the FilterCriteria (no filter: everything passes; filters are OR'ed)."""
        if not self.filters:
            return True
        candidate = decoded_event(record)
        return any(pattern.matches(candidate) for pattern in self.filters)


def sqs_record(message: Mapping[str, Any], source_arn: str, region: str, account_id: str, now: float) -> dict:
    """The event of one SQS message, as Lambda's SQS poller (and so Pipes) builds it."""
    first = message.get("first_receive_at") or now
    attributes = {
        "ApproximateReceiveCount": str(message.get("receive_count", 1)),
        "SentTimestamp": str(int(message["sent_at"] * 1000)),
        "SenderId": account_id,
        "ApproximateFirstReceiveTimestamp": str(int(first * 1000)),
    }
    trace = (message.get("sys") or {}).get("AWSTraceHeader")
    if trace:
        attributes["AWSTraceHeader"] = trace
    if message.get("group_id"):
        attributes["MessageGroupId"] = message["group_id"]
    if message.get("dedup_id"):
        attributes["MessageDeduplicationId"] = message["dedup_id"]
    if message.get("seq") is not None:
        attributes["SequenceNumber"] = str(message["seq"])
    return {
        "messageId": message["id"],
        "receiptHandle": message.get("receipt_handle"),
        "body": message["body"],
        "attributes": attributes,
        "messageAttributes": {
            name: {(k[:1].lower() + k[1:]): v for k, v in inner.items()}
            for name, inner in (message.get("message_attributes") or {}).items()
        },
        "md5OfBody": message.get("md5_body") or "",
        "eventSource": "aws:sqs",
        "eventSourceARN": source_arn,
        "awsRegion": region,
    }


def dead_letter_record(
    *,
    pipe_arn: str,
    condition: str,
    attempts: int,
    reason: str,
    records: list[dict],
    stream_arn: str,
    shard_id: str,
    now: float,
) -> dict[str, Any]:
    """What a discarded stream batch sends to ``DeadLetterConfig`` (Lambda's invocation record shape)."""
    context = {
        "requestId": str(uuid.uuid4()),
        "pipeArn": pipe_arn,
        "condition": condition,
        "approximateInvokeCount": attempts,
    }
    return stream_failure_record(
        context, {"errorMessage": reason}, records=records, stream_arn=stream_arn, shard_id=shard_id, now=now
    )
