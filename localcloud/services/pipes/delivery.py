"""Delivery of a batch: the enrichment Lambda, then the target (SQS, Lambda, SNS); runs on a pipe's thread."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ministack.services import lambda_svc as _lambda
from ministack.services import sns as _sns
from ministack.services import sqs as _sqs

from localcloud.services.awslambda.event_sources import parse_batch_item_failures
from localcloud.services.pipes.models import (
    TARGET_MAX_BATCH,
    PipeConfig,
    arn_service,
    dynamic_parameter,
    enrichment_events,
    render_template,
    template_value,
)

logger = logging.getLogger("localcloud.pipes")


@dataclass
class Outcome:
    """How one pipe execution ended: ``ok``, ``partial`` (these item ids failed) or ``failed``."""

    status: str
    failed_ids: list[str] = field(default_factory=list)
    reason: str = ""


class DeliveryError(Exception):
    """The enrichment or target did not take the batch (retryable)."""


def _lambda_record(arn: str) -> tuple[dict, dict]:
    name, qualifier = _lambda._resolve_name_and_qualifier(arn)
    func_rec, config = _lambda._get_func_record_for_qualifier(name, qualifier)
    if func_rec is None:
        raise DeliveryError(f"Lambda function {arn} not found")
    return func_rec, config or {}


def _invoke(arn: str, payload: Any) -> Any:
    func_rec, _config = _lambda_record(arn)
    result = _lambda._execute_function(func_rec, payload)
    if result.get("throttle"):
        raise DeliveryError(f"Lambda function {arn} was throttled")
    if result.get("error"):
        body = result.get("body") if isinstance(result.get("body"), dict) else {}
        raise DeliveryError(
            f"Lambda function {arn} failed: {body.get('errorType', 'Unhandled')}: "
            f"{body.get('errorMessage', '')}".rstrip(": ")
        )
    return result.get("body")


def _send(arn: str, body: str, *, group_id: str | None = None, dedup_id: str | None = None) -> None:
    """One SQS SendMessage or SNS Publish, in-process; raises DeliveryError when refused."""
    service = arn_service(arn)
    if service == "sqs":
        queue = _sqs._queue_by_arn(arn)
        if queue is None:
            raise DeliveryError(f"SQS queue {arn} not found")
        request: dict[str, Any] = {"QueueUrl": queue["url"], "MessageBody": body}
        if group_id is not None:
            request["MessageGroupId"] = group_id
        if dedup_id is not None:
            request["MessageDeduplicationId"] = dedup_id
        try:
            with _sqs._queues_lock:
                _sqs._act_send_message(request, queue["url"])
        except _sqs._Err as error:
            raise DeliveryError(f"SendMessage to {arn} refused: {error.code}: {error.message}") from None
    elif service == "sns":
        try:
            if _sns.publish_internal(arn, body) is None:
                raise DeliveryError(f"SNS topic {arn} not found")
        except _sns.SnsPublishError as error:
            raise DeliveryError(f"Publish to {arn} refused: {error}") from None
    else:
        raise DeliveryError(f"cannot send to {arn}")


def execute(config: PipeConfig, events: list[dict], *, now: Callable[[], float] = time.time) -> Outcome:
    """Run one batch through enrichment and target. Never raises for a delivery failure."""
    try:
        batch: list[Any] = events
        if config.enrichment:
            inputs = [
                template_value(render_template(config.enrichment_template, e, config.variables, now=now()))
                if config.enrichment_template
                else e
                for e in events
            ]
            batch = enrichment_events(_invoke(config.enrichment, inputs))
            if not batch:
                return Outcome("ok")  # the enrichment filtered everything out
        return _deliver_to_target(config, events, batch, now)
    except DeliveryError as error:
        return Outcome("failed", reason=str(error))
    except Exception as error:  # a bug or MiniStack surprise must not kill the pipe thread
        logger.exception("Pipe %s: delivery failed unexpectedly", config.name)
        return Outcome("failed", reason=f"{type(error).__name__}: {error}")


def _deliver_to_target(
    config: PipeConfig, source_events: list[dict], batch: list[Any], now: Callable[[], float]
) -> Outcome:
    rendered = (
        [render_template(config.target_template, e, config.variables, now=now()) for e in batch]
        if config.target_template is not None
        else None
    )
    if config.target_kind == "lambda":
        payload = [template_value(text) for text in rendered] if rendered is not None else batch
        if config.invocation_type == "FIRE_AND_FORGET":
            func_rec, _ = _lambda_record(config.target)
            _lambda.invoke_async_with_retry(func_rec, payload)
            return Outcome("ok")
        response = _invoke(config.target, payload)
        ids = {str(e.get("messageId") or e.get("eventID") or "") for e in source_events if isinstance(e, dict)}
        status, failed = parse_batch_item_failures(response, ids - {""})
        if status == "failure":
            raise DeliveryError(f"Lambda function {config.target} answered an invalid batchItemFailures response")
        return Outcome("partial", failed) if status == "partial" else Outcome("ok")
    limit = TARGET_MAX_BATCH.get(config.target_kind, 10)
    if len(batch) > limit:  # "if the array is larger than the batch size supported by the target, ... won't invoke"
        raise DeliveryError(f"{len(batch)} events are more than the {limit} the target takes in one batch")
    for index, event in enumerate(batch):
        body = rendered[index] if rendered is not None else event if isinstance(event, str) else json.dumps(event)
        _send(
            config.target,
            body,
            group_id=dynamic_parameter(config.message_group_id, event),
            dedup_id=dynamic_parameter(config.message_deduplication_id, event),
        )
    return Outcome("ok")
