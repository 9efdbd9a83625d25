"""SQS retries, partial batch failures, the DLQ and its redrive (steps 03 and 05), against the AWS contract.

References (AWS documentation followed):
- Lambda with SQS (a failed batch comes back after the visibility timeout):
  https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html,
  https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html
- Partial batch responses (only the reported messages come back; an itemIdentifier that is empty,
  null, badly named or not a message of the batch fails the whole batch):
  https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-batchfailurereporting.html
- Visibility timeout and ChangeMessageVisibility:
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html
- ApproximateReceiveCount: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html
- Dead-letter queues, maxReceiveCount ("when the ReceiveCount for a message exceeds the
  maxReceiveCount, Amazon SQS moves the message to the dead-letter queue"):
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html
- DLQ redrive (moved messages are new messages: new MessageId, receive count from zero):
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ListMessageMoveTasks.html,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CancelMessageMoveTask.html
"""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from botocore.exceptions import ClientError

from conformance._esm import (
    PATIENCE,
    POLL,
    Invocation,
    create_queue,
    event_source_mapping,
    invocations,
    receive,
    wait_for_invocations,
    wait_queue_size,
)
from helpers.core.waiters import wait_until

pytestmark = pytest.mark.cloud

VISIBILITY = 1  # seconds: short, so retries come quickly
REPORTING = {"FunctionResponseTypes": ["ReportBatchItemFailures"]}


def _send(lab, url: str, name: str, **instruction) -> str:
    return lab.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps({"name": name, **instruction}))[
        "MessageId"
    ]


def _deliveries(found: list[Invocation], name: str) -> list[tuple[Invocation, dict]]:
    """(invocation, record) for each delivery of the message called ``name``, oldest first."""
    return [(i, r) for i in found for r in i.records if json.loads(r["body"]).get("name") == name]


def _counts(found: list[Invocation], name: str) -> list[int]:
    return [int(r["attributes"]["ApproximateReceiveCount"]) for _, r in _deliveries(found, name)]


def _until_redelivered(lab, probe, url: str, arn: str, name: str, what: str, **mapping) -> list[Invocation]:
    """Map the queue to the probe (batches of 10, ``mapping`` settings) until the message ``name`` has been
    delivered twice and the queue is empty; every invocation, oldest first."""
    with event_source_mapping(lab, probe, warm=True, EventSourceArn=arn, BatchSize=10, **mapping):
        found = wait_for_invocations(lab, probe, arn, lambda f: _counts(f, name) == [1, 2], what)
        wait_queue_size(lab, url)
    return found


@pytest.mark.slow
def test_partial_batch_failure_brings_back_only_the_reported_message(lab, probe):
    url, arn = create_queue(lab, "esm-sqs-partial", VisibilityTimeout=str(VISIBILITY))
    _send(lab, url, "ok-1")
    _send(lab, url, "ok-2")
    _send(lab, url, "flaky", behaviour="report", until=2)
    found = _until_redelivered(lab, probe, url, arn, "flaky", "the reported message to come back once", **REPORTING)
    assert _counts(found, "ok-1") == [1] and _counts(found, "ok-2") == [1], "succeeded messages are deleted"
    (first, _), (second, _) = _deliveries(found, "flaky")
    assert second.at - first.at >= VISIBILITY * 0.8, "it came back after its visibility timeout"


@pytest.mark.slow
def test_an_invalid_item_identifier_fails_the_whole_batch(lab, probe):
    url, arn = create_queue(lab, "esm-sqs-badid", VisibilityTimeout=str(VISIBILITY))
    _send(lab, url, "misreported", behaviour="bad-id", until=2)
    what = "the message of a batch with an unknown itemIdentifier to come back"
    found = _until_redelivered(lab, probe, url, arn, "misreported", what, **REPORTING)
    assert [i.outcome for i, _ in _deliveries(found, "misreported")] == ["partial", "ok"]


@pytest.mark.slow
def test_a_function_error_brings_back_the_whole_batch(lab, probe):
    url, arn = create_queue(lab, "esm-sqs-error", VisibilityTimeout=str(VISIBILITY))
    _send(lab, url, "bystander")
    _send(lab, url, "breaker", behaviour="raise", until=2)
    what = "the message that failed its batch to come back"
    found = _until_redelivered(lab, probe, url, arn, "breaker", what, **REPORTING)
    failed = [i for i in found if i.outcome == "raise"]
    assert failed
    later = found[found.index(failed[0]) + 1 :]
    for record in failed[0].records:  # every message of the failed batch was delivered again
        name = json.loads(record["body"])["name"]
        assert any(json.loads(r["body"])["name"] == name for i in later for r in i.records), name
        assert int(record["attributes"]["ApproximateReceiveCount"]) + 1 in _counts(found, name)


@pytest.mark.slow
def test_change_message_visibility_decides_when_a_failed_message_returns(lab, probe):
    url, arn = create_queue(lab, "esm-sqs-visibility", VisibilityTimeout=str(VISIBILITY))
    extended = 4
    _send(lab, url, "slow", behaviour="extend-then-raise", visibility=extended, until=2)
    what = "the message to come back after its extended visibility timeout"
    found = _until_redelivered(lab, probe, url, arn, "slow", what)
    (first, _), (second, _) = _deliveries(found, "slow")
    assert second.at - first.at >= extended * 0.9, "ChangeMessageVisibility, not the queue's timeout, decided"


def _redrive_pair(lab, component: str, *, visibility: int = 1, max_receives: int = 1) -> tuple[str, str, str, str]:
    """A queue ``component`` that moves a message to ``<component>-dlq`` after ``max_receives`` receives:
    ``(url, arn, dlq_url, dlq_arn)``."""
    dlq_url, dlq_arn = create_queue(lab, f"{component}-dlq")
    url, arn = create_queue(
        lab,
        component,
        VisibilityTimeout=str(visibility),
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)}),
    )
    return url, arn, dlq_url, dlq_arn


def _dead_lettered(lab, probe, arn: str, dlq_url: str) -> tuple[dict, list[Invocation]]:
    """Map the queue to the probe until one message lands in the DLQ: that message and every invocation."""
    with event_source_mapping(lab, probe, warm=True, EventSourceArn=arn, BatchSize=10):
        [dead] = receive(lab, dlq_url, 1, AttributeNames=["All"])
        return dead, invocations(lab, probe, arn)


def test_redrive_to_the_dlq_after_exactly_max_receive_count_receives(lab, probe):
    max_receives = 3
    url, arn, dlq_url, _ = _redrive_pair(lab, "esm-sqs-redrive", visibility=VISIBILITY, max_receives=max_receives)
    message_id = _send(lab, url, "poison", behaviour="raise")
    dead, found = _dead_lettered(lab, probe, arn, dlq_url)
    assert dead["MessageId"] == message_id
    assert json.loads(dead["Body"]) == {"name": "poison", "behaviour": "raise"}
    assert _counts(found, "poison") == list(range(1, max_receives + 1)), (
        "received maxReceiveCount times (ApproximateReceiveCount 1, 2, 3), then dead-lettered, no more"
    )
    times = [i.at for i, _ in _deliveries(found, "poison")]
    assert all(b - a >= VISIBILITY * 0.8 for a, b in pairwise(times)), "each retry waits the visibility timeout"


@pytest.mark.slow
def test_a_zero_visibility_timeout_sends_a_failing_message_to_the_dlq_without_waiting(lab, probe):
    """The order worker's path for a permanent failure: ChangeMessageVisibility to 0 on each failed
    receive (API_ChangeMessageVisibility: "the message is immediately visible"); SQS still counts
    every receive, so after exactly maxReceiveCount it moves to the DLQ — long before the queue's
    own visibility timeout would have let one retry through."""
    max_receives, queue_visibility = 3, 60
    url, arn, dlq_url, _ = _redrive_pair(lab, "esm-sqs-zero", visibility=queue_visibility, max_receives=max_receives)
    message_id = _send(lab, url, "permanent", behaviour="extend-then-raise", visibility=0)
    dead, found = _dead_lettered(lab, probe, arn, dlq_url)  # waits at most PATIENCE (< the queue's 60 s locally)
    assert dead["MessageId"] == message_id
    assert _counts(found, "permanent") == list(range(1, max_receives + 1)), (
        "each receive counted (ApproximateReceiveCount 1, 2, 3), then dead-lettered, no more"
    )
    times = [i.at for i, _ in _deliveries(found, "permanent")]
    assert all(b - a < queue_visibility for a, b in pairwise(times)), (
        "each retry came back at once, not after the queue's visibility timeout"
    )


def _dead_letter(lab, url: str, dlq_url: str, count: int) -> None:
    """Receive each message of ``url`` once (maxReceiveCount 1) so that SQS moves them to ``dlq_url``."""
    sqs = lab.client("sqs")
    receive(lab, url, count, delete=False, VisibilityTimeout=1)

    def moved() -> bool:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)  # triggers the move
        attributes = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"]) == count

    wait_until(moved, timeout=PATIENCE, interval=POLL, max_interval=5.0, what=f"{count} message(s) in the DLQ")


def _latest_task(lab, dlq_arn: str) -> dict:
    return lab.client("sqs").list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]


def _wait_task(lab, dlq_arn: str, status: str, what: str) -> dict:
    """The latest move task of ``dlq_arn`` once it is ``status``."""
    return wait_until(
        lambda: (t := _latest_task(lab, dlq_arn))["Status"] == status and t,
        timeout=PATIENCE,
        interval=POLL,
        max_interval=5.0,
        what=what,
    )


def test_start_message_move_task_moves_dlq_messages_back_to_their_source(lab):
    sqs = lab.client("sqs")
    url, _, dlq_url, dlq_arn = _redrive_pair(lab, "sqs-move")
    sent = {}
    for name in ("first", "second"):
        response = sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"name": name}),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": f"kind-{name}"}},
        )
        sent[response["MessageId"]] = name
    _dead_letter(lab, url, dlq_url, 2)

    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    assert isinstance(handle, str) and handle
    task = _wait_task(lab, dlq_arn, "COMPLETED", "the move task to complete")
    assert task["SourceArn"] == dlq_arn
    assert "DestinationArn" not in task and "TaskHandle" not in task
    assert task["ApproximateNumberOfMessagesMoved"] == 2
    assert task["ApproximateNumberOfMessagesToMove"] == 2
    assert isinstance(task["StartedTimestamp"], int)

    back = receive(lab, url, 2, AttributeNames=["ApproximateReceiveCount"], MessageAttributeNames=["All"])
    assert sorted(json.loads(m["Body"])["name"] for m in back) == ["first", "second"]
    for message in back:
        name = json.loads(message["Body"])["name"]
        assert message["MessageAttributes"]["kind"]["StringValue"] == f"kind-{name}"
        assert message["Attributes"]["ApproximateReceiveCount"] == "1", "a redriven message is received afresh"
        assert message["MessageId"] not in sent, "a redriven message is a new message"
    wait_queue_size(lab, dlq_url)


def test_move_task_to_an_explicit_destination_and_its_rules(lab):
    sqs = lab.client("sqs")
    url, arn, dlq_url, dlq_arn = _redrive_pair(lab, "sqs-move-dest")
    other_url, other_arn = create_queue(lab, "sqs-move-dest-other")
    with pytest.raises(ClientError):  # only a dead-letter queue can be a source
        sqs.start_message_move_task(SourceArn=arn)
    with pytest.raises(ClientError) as missing:
        sqs.start_message_move_task(SourceArn=arn.rsplit(":", 1)[0] + ":" + lab.name("no-such-queue"))
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"

    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"name": "elsewhere"}))
    _dead_letter(lab, url, dlq_url, 1)
    sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=other_arn, MaxNumberOfMessagesPerSecond=10)
    task = _wait_task(lab, dlq_arn, "COMPLETED", "the move task to complete")
    assert task["DestinationArn"] == other_arn and task["MaxNumberOfMessagesPerSecond"] == 10
    [moved] = receive(lab, other_url, 1)
    assert json.loads(moved["Body"]) == {"name": "elsewhere"}
    wait_queue_size(lab, url)


def test_cancel_message_move_task_stops_the_rest(lab):
    sqs = lab.client("sqs")
    url, _, dlq_url, dlq_arn = _redrive_pair(lab, "sqs-move-cancel")
    for index in range(4):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"name": f"m{index}"}))
    _dead_letter(lab, url, dlq_url, 4)

    handle = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    running = _latest_task(lab, dlq_arn)
    assert running["Status"] == "RUNNING" and running["TaskHandle"] == handle
    with pytest.raises(ClientError):  # one active task per source queue
        sqs.start_message_move_task(SourceArn=dlq_arn)
    moved = sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]
    assert 0 <= moved < 4
    task = _wait_task(lab, dlq_arn, "CANCELLED", "the move task to be cancelled")
    assert task["ApproximateNumberOfMessagesMoved"] < 4
    left = 4 - task["ApproximateNumberOfMessagesMoved"]
    wait_queue_size(lab, dlq_url, left, f"{left} message(s) left in the DLQ after the cancelled move")


# --- maximum concurrency (ScalingConfig) ---------------------------------------------------------


def test_maximum_concurrency_is_stored_returned_and_converges(lab, probe):
    """ScalingConfig.MaximumConcurrency (2..1000, Amazon SQS sources only) is answered by Create, Get,
    List and UpdateEventSourceMapping; ``ScalingConfig={}`` removes it; re-running the provisioning
    with the same value updates nothing
    (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html,
    https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html,
    https://docs.aws.amazon.com/lambda/latest/api/API_UpdateEventSourceMapping.html)."""
    from helpers.aws.event_sources import (
        NO_CONCURRENCY_CAP,
        delete_event_source_mapping,
        ensure_event_source_mapping,
    )

    lam = lab.client("lambda")
    _, arn = create_queue(lab, "sqs-scaling", VisibilityTimeout="30")
    updates: list[dict] = []
    answers: dict[str, dict] = {}  # the last Create/Update response

    def record(model, params, **_):
        if model.name == "UpdateEventSourceMapping":
            updates.append(params)

    def answer(model, parsed, **_):
        if model.name in ("CreateEventSourceMapping", "UpdateEventSourceMapping"):
            answers[model.name] = parsed

    def provision(cap):
        return ensure_event_source_mapping(
            lab, function_name=probe.name, source_arn=arn, batch_size=10, maximum_concurrency=cap, timeout=PATIENCE
        )

    lam.meta.events.register("before-call", record)
    lam.meta.events.register("after-call", answer)
    mapping = provision(5)
    try:
        assert mapping.created and mapping.maximum_concurrency == 5
        assert answers["CreateEventSourceMapping"]["ScalingConfig"] == {"MaximumConcurrency": 5}
        got = lam.get_event_source_mapping(UUID=mapping.uuid)
        assert got["ScalingConfig"] == {"MaximumConcurrency": 5}
        listed = lam.list_event_source_mappings(FunctionName=probe.name, EventSourceArn=arn)["EventSourceMappings"]
        assert [m["ScalingConfig"] for m in listed] == [{"MaximumConcurrency": 5}]

        again = provision(5)
        assert (again.uuid, again.updated, updates) == (mapping.uuid, (), [])

        raised = provision(10)
        assert raised.updated == ("ScalingConfig",) and raised.maximum_concurrency == 10
        assert answers["UpdateEventSourceMapping"]["ScalingConfig"] == {"MaximumConcurrency": 10}
        assert lam.get_event_source_mapping(UUID=mapping.uuid)["ScalingConfig"] == {"MaximumConcurrency": 10}

        removed = provision(NO_CONCURRENCY_CAP)
        assert removed.updated == ("ScalingConfig",) and removed.maximum_concurrency is None
        assert "MaximumConcurrency" not in (lam.get_event_source_mapping(UUID=mapping.uuid).get("ScalingConfig") or {})
        updates.clear()
        assert provision(NO_CONCURRENCY_CAP).updated == () and updates == []
    finally:
        lam.meta.events.unregister("before-call", record)
        lam.meta.events.unregister("after-call", answer)
        delete_event_source_mapping(lab, mapping.uuid, timeout=PATIENCE)


def test_maximum_concurrency_below_two_is_refused(lab, probe):
    """MaximumConcurrency is at least 2 (https://docs.aws.amazon.com/lambda/latest/api/API_ScalingConfig.html)."""
    from botocore.exceptions import ParamValidationError

    lam = lab.client("lambda")
    _, arn = create_queue(lab, "sqs-scaling-min")
    # botocore checks the model's minimum itself; the service refuses it too when the client does not.
    with pytest.raises((ClientError, ParamValidationError)):
        lam.create_event_source_mapping(
            FunctionName=probe.name, EventSourceArn=arn, Tags=lab.tags, ScalingConfig={"MaximumConcurrency": 1}
        )
    assert lam.list_event_source_mappings(FunctionName=probe.name, EventSourceArn=arn)["EventSourceMappings"] == []
