"""Step 5 (notebook 05): the order queue's dead-letter queue — and the pipeline of steps 1, 2, 3 and 5
as a whole: deploy it in one call, or ask what exists of it.

>>> stack = deploy_pipeline(lab, max_receive_count=3)               # doctest: +SKIP
>>> stack.worker.mapping.state, stack.queues.dlq.name              # doctest: +SKIP
('Enabled', 'alice-order-dlq')
>>> pipeline_status(lab)["steps"]["03"]["ready"]                    # doctest: +SKIP
True

The dead-letter queue itself is created with the order queue (:func:`helpers.pipeline.step2.ensure_order_queues`):
the order queue's redrive policy names it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from helpers.aws.apigateway import HttpApiInfo
from helpers.aws.dynamodb import TableInfo, describe_table
from helpers.aws.event_sources import find_event_source_mappings
from helpers.aws.lambda_ import get_function
from helpers.aws.sqs import describe_queue
from helpers.core.lab import Lab
from helpers.pipeline.catalog import (
    ORDER_DLQ_COMPONENT,
    ORDER_QUEUE_COMPONENT,
    ORDER_WORKER,
    ORDERS_COMPONENT,
    STREAM_FAILURES_COMPONENT,
    STREAM_PROCESSOR,
    step,
)
from helpers.pipeline.step1 import IngestionStack, deploy_ingestion, ingestion_status
from helpers.pipeline.step2 import (
    DEFAULT_MAX_RECEIVE_COUNT,
    STREAM_VIEW_TYPE,
    OrderQueues,
    StepInfo,
    deploy_stream_processor,
    enable_order_stream,
    ensure_order_queues,
)
from helpers.pipeline.step3 import deploy_order_worker

__all__ = ["PIPELINE_NOTEBOOKS", "PipelineStack", "deploy_pipeline", "pipeline_status"]

# Which notebook builds which step (pipeline_status names it when something is missing).
PIPELINE_NOTEBOOKS = {number: step(number).notebook for number in ("01", "02", "03", "05")}
STREAM_PROCESSOR_COMPONENT = STREAM_PROCESSOR.component
ORDER_WORKER_COMPONENT = ORDER_WORKER.component


@dataclass(frozen=True)
class PipelineStack:
    """Steps 1-3 and 5: ingestion, the table's stream, the queues and both consumers."""

    ingestion: IngestionStack
    table: TableInfo
    queues: OrderQueues
    stream_processor: StepInfo
    worker: StepInfo

    @property
    def orders_url(self) -> str:
        return self.ingestion.orders_url

    @property
    def api(self) -> HttpApiInfo:
        return self.ingestion.api

    @property
    def changed(self) -> bool:
        return (
            self.ingestion.function.changed
            or self.queues.changed
            or self.stream_processor.changed
            or self.worker.changed
        )


def deploy_pipeline(
    lab: Lab,
    *,
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT,
    cors_allow_origins: list[str] | None = None,
    transient_failures: int = 2,
    fault_injection: bool = True,
    rules: dict[str, Any] | None = None,
    worker_environment: dict[str, str] | None = None,
) -> PipelineStack:
    """Deploy (or converge) steps 1, 2, 3 and 5 in dependency order.

    table + create_order + API -> stream on -> queues (DLQ, order queue, stream-failures) ->
    order_worker + its mapping -> stream_processor + its mapping. Re-running changes nothing
    that is already as asked (same queue URLs, same mapping UUIDs).

    >>> stack = deploy_pipeline(lab, max_receive_count=3)              # doctest: +SKIP
    >>> OrdersApi(stack.orders_url).create(order)                       # doctest: +SKIP
    """
    ingestion = deploy_ingestion(lab, cors_allow_origins=cors_allow_origins)
    table = enable_order_stream(lab)
    queues = ensure_order_queues(lab, max_receive_count=max_receive_count)
    worker = deploy_order_worker(
        lab,
        table,
        queues,
        transient_failures=transient_failures,
        fault_injection=fault_injection,
        rules=rules,
        environment=worker_environment,
    )
    processor = deploy_stream_processor(lab, table, queues)
    return PipelineStack(ingestion=ingestion, table=table, queues=queues, stream_processor=processor, worker=worker)


def _queue_status(lab: Lab, component: str) -> dict[str, Any]:
    name = lab.name(component)
    queue = describe_queue(lab, name)
    status: dict[str, Any] = {
        "exists": queue is not None,
        "name": name,
        "url": queue.get("QueueUrl") if queue else None,
        "arn": queue.get("QueueArn") if queue else None,
    }
    if queue and queue.get("RedrivePolicy"):
        status["redrive_policy"] = json.loads(queue["RedrivePolicy"])
    return status


def _function_status(lab: Lab, component: str) -> dict[str, Any]:
    name = lab.name(component)
    function = get_function(lab, name)
    configuration = function["Configuration"] if function else {}
    return {
        "exists": function is not None,
        "name": name,
        "state": configuration.get("State"),
        "environment": (configuration.get("Environment") or {}).get("Variables", {}),
    }


def _mapping_status(lab: Lab, function_name: str, source_arn: str | None) -> dict[str, Any]:
    mappings = find_event_source_mappings(lab, function_name, source_arn) if source_arn else []
    mapping = mappings[0] if mappings else None
    return {
        "exists": mapping is not None,
        "uuid": mapping.get("UUID") if mapping else None,
        "state": mapping.get("State") if mapping else None,
        "source": source_arn,
    }


def pipeline_status(lab: Lab) -> dict[str, Any]:
    """What exists of steps 1, 2, 3 and 5 (read-only), for a notebook to check its prerequisites.

    ``steps`` maps "01"/"02"/"03"/"05" to ``{"ready", "missing", "notebook", ...details}``; at the
    top, ``ready``, ``missing`` (everything), ``next_notebook`` (the first step not ready) and
    ``message`` (a sentence for a learner).

    >>> pipeline_status(lab)["message"]                                 # doctest: +SKIP
    'Run 03_sqs_workers.ipynb first (prefix alice): missing Lambda function alice-order-worker (Active); ...'
    """
    ingestion = ingestion_status(lab)
    table = describe_table(lab, lab.name(ORDERS_COMPONENT))
    stream_spec = (table or {}).get("StreamSpecification") or {}
    stream_arn = (table or {}).get("LatestStreamArn") if stream_spec.get("StreamEnabled") else None
    queue = _queue_status(lab, ORDER_QUEUE_COMPONENT)
    dlq = _queue_status(lab, ORDER_DLQ_COMPONENT)
    failures = _queue_status(lab, STREAM_FAILURES_COMPONENT)
    processor = _function_status(lab, STREAM_PROCESSOR_COMPONENT)
    worker = _function_status(lab, ORDER_WORKER_COMPONENT)
    processor_mapping = (
        _mapping_status(lab, processor["name"], stream_arn)
        if processor["exists"]
        else _mapping_status(lab, processor["name"], None)
    )
    worker_mapping = (
        _mapping_status(lab, worker["name"], queue["arn"])
        if worker["exists"]
        else _mapping_status(lab, worker["name"], None)
    )

    def need(condition: bool, what: str, missing: list[str]) -> None:
        if not condition:
            missing.append(what)

    step2: list[str] = []
    need(
        stream_arn is not None and stream_spec.get("StreamViewType") == STREAM_VIEW_TYPE,
        f"the stream ({STREAM_VIEW_TYPE}) of table {lab.name(ORDERS_COMPONENT)}",
        step2,
    )
    need(queue["exists"], f"SQS queue {queue['name']}", step2)
    need(failures["exists"], f"SQS queue {failures['name']}", step2)
    need(processor["exists"] and processor["state"] == "Active", f"Lambda function {processor['name']} (Active)", step2)
    need(
        processor_mapping["state"] == "Enabled",
        f"an Enabled mapping from the table's stream to {processor['name']}",
        step2,
    )
    step3: list[str] = []
    need(queue["exists"], f"SQS queue {queue['name']}", step3)
    need(worker["exists"] and worker["state"] == "Active", f"Lambda function {worker['name']} (Active)", step3)
    need(worker_mapping["state"] == "Enabled", f"an Enabled mapping from {queue['name']} to {worker['name']}", step3)
    step5: list[str] = []
    need(dlq["exists"], f"SQS queue {dlq['name']} (the dead-letter queue)", step5)
    need(
        dlq["exists"] and (queue.get("redrive_policy") or {}).get("deadLetterTargetArn") == dlq["arn"],
        f"a redrive policy on {queue['name']} pointing to {dlq['name']}",
        step5,
    )

    steps: dict[str, dict[str, Any]] = {
        "01": {**ingestion, "notebook": PIPELINE_NOTEBOOKS["01"]},
        "02": {
            "ready": not step2,
            "missing": step2,
            "notebook": PIPELINE_NOTEBOOKS["02"],
            "stream_arn": stream_arn,
            "function": processor,
            "mapping": processor_mapping,
            "queue": queue,
            "stream_failures": failures,
        },
        "03": {
            "ready": not step3,
            "missing": step3,
            "notebook": PIPELINE_NOTEBOOKS["03"],
            "queue": queue,
            "function": worker,
            "mapping": worker_mapping,
        },
        "05": {
            "ready": not step5,
            "missing": step5,
            "notebook": PIPELINE_NOTEBOOKS["05"],
            "dlq": dlq,
            "max_receive_count": (queue.get("redrive_policy") or {}).get("maxReceiveCount"),
        },
    }
    missing = [item for step in steps.values() for item in step["missing"]]
    first = next((key for key, step in steps.items() if step["missing"]), None)
    message = (
        "The pipeline (steps 1, 2, 3 and 5) is in place."
        if first is None
        else f"Run {PIPELINE_NOTEBOOKS[first]} first (prefix {lab.prefix!r}): missing "
        f"{'; '.join(steps[first]['missing'])}."
    )
    return {
        "steps": steps,
        "ready": not missing,
        "missing": missing,
        "next_notebook": PIPELINE_NOTEBOOKS[first] if first else None,
        "message": message,
    }
