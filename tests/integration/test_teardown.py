"""Teardown after a deliberately half-finished run: cleanup.ipynb deletes it all and proves zero remain.

The run stops in the middle of several steps — a role without its function, a paused mapping, a
topic with a subscription but no alarm, a log group whose function is gone, step 4's queues without
their pipe, a queue already deleted by hand — next to a neighbour prefix that must survive. Then the
real ``cleanup.ipynb`` runs headless, and a fresh sweep (the Resource Groups Tagging API plus every
per-service listing) finds nothing of the prefix, while the neighbour's resources are untouched.

AWS docs: https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html,
https://docs.aws.amazon.com/sns/latest/api/API_DeleteTopic.html,
https://docs.aws.amazon.com/lambda/latest/api/API_DeleteEventSourceMapping.html
"""

from __future__ import annotations

import uuid

import pytest
from cloudtest import notebook_stream_text

from helpers.core.lab import Lab
from helpers.ops.cleanup import DELETE_ORDER, destroy_lab
from helpers.ops.discovery import find_lab_resources, sweep
from helpers.teach.runner import CLEANUP_NOTEBOOK, run_notebook

pytestmark = pytest.mark.cloud


def test_dependents_are_deleted_before_what_they_depend_on():
    order = [kind for _, kind in DELETE_ORDER]
    position = {pair: index for index, pair in enumerate(DELETE_ORDER)}

    def before(first: tuple[str, str], then: tuple[str, str]) -> bool:
        return position[first] < position[then]

    assert before(("pipes", "pipe"), ("lambda", "function"))
    assert before(("lambda", "event-source-mapping"), ("lambda", "function"))
    assert before(("apigateway", "api"), ("lambda", "function"))
    assert before(("sns", "subscription"), ("sns", "topic"))
    assert before(("cloudwatch", "alarm"), ("sns", "topic"))
    for dependent in (("lambda", "function"), ("pipes", "pipe")):
        assert before(dependent, ("iam", "role")) and before(dependent, ("sqs", "queue"))
        assert before(dependent, ("dynamodb", "table"))
    assert before(("lambda", "function"), ("logs", "log-group"))
    assert len(order) == len(set(DELETE_ORDER))


def _half_finished_run(lab: Lab) -> None:
    """Provision pieces of steps 1-6 as a run interrupted at different points would leave them."""
    from helpers.aws.event_sources import disable_event_source_mapping
    from helpers.aws.iam import ensure_lambda_role
    from helpers.aws.lambda_ import ensure_log_group
    from helpers.aws.sns import ensure_sqs_subscription, ensure_topic
    from helpers.aws.sqs import ensure_queue, sqs_sender_statement
    from helpers.pipeline.step1 import deploy_ingestion
    from helpers.pipeline.step2 import STREAM_PROCESSOR_COMPONENT, enable_order_stream, ensure_order_queues
    from helpers.pipeline.step3 import deploy_order_worker

    deploy_ingestion(lab)  # step 1 complete
    table = enable_order_stream(lab)  # step 2: stream and queues ...
    queues = ensure_order_queues(lab)
    ensure_lambda_role(
        lab,
        STREAM_PROCESSOR_COMPONENT,  # ... its role, but the run died before
        [sqs_sender_statement(queues.queue.arn)],
    )  # the function was deployed
    worker = deploy_order_worker(lab, table, queues)  # step 3, then its trigger paused
    disable_event_source_mapping(lab, worker.mapping.uuid)
    ensure_log_group(lab, lab.name("gone-function"))  # a log group whose function is gone
    routing = pytest.importorskip("helpers.pipeline.step4")
    routing.ensure_high_value_queues(lab)  # step 4: queues, no pipe yet
    topic = ensure_topic(lab, "alerts")  # step 6: topic + subscription, no alarm
    inbox = ensure_queue(lab, "alert-inbox")
    ensure_sqs_subscription(lab, topic.arn, inbox)
    gone = ensure_queue(lab, "deleted-by-hand")  # a resource someone removed already
    lab.client("sqs").delete_queue(QueueUrl=gone.url)


@pytest.mark.slow
def test_cleanup_after_a_half_finished_run_leaves_zero_resources(cloud, tmp_path):
    from helpers.aws.sqs import ensure_queue

    prefix = f"td{uuid.uuid4().hex[:6]}"
    lab = Lab.connect(prefix=prefix, announce=None)
    neighbour = Lab.connect(prefix=f"{prefix}-2", announce=None)  # its names start with "<prefix>-" too
    neighbour_queue = ensure_queue(neighbour, "order-queue")
    try:
        _half_finished_run(lab)
        before = find_lab_resources(lab)
        kinds = {(r.service, r.kind) for r in before}
        for expected in [
            ("dynamodb", "table"),
            ("lambda", "function"),
            ("lambda", "event-source-mapping"),
            ("iam", "role"),
            ("apigateway", "api"),
            ("sqs", "queue"),
            ("logs", "log-group"),
            ("sns", "topic"),
            ("sns", "subscription"),
        ]:
            assert expected in kinds, f"the half-finished run should have left a {expected}: {sorted(kinds)}"
        assert not any(r.name.startswith(f"{prefix}-2-") for r in before), "a neighbour's resource was attributed"

        result = run_notebook(CLEANUP_NOTEBOOK, tmp_path / "cleanup.ipynb", {"prefix": prefix})
        assert result.ok, result.error
        text = notebook_stream_text(tmp_path / "cleanup.ipynb")
        assert "the sweep finds no resource of this prefix" in text and "checks passed" in text, text[-2000:]

        proof = sweep(lab)
        assert proof.clean, proof.frame().to_string()
        assert all(row["found"] == 0 for row in proof.rows()), proof.rows()
        if lab.target.is_local:  # AWS's tagging API may lag behind deletions; the local one must not
            assert proof.tagging_listed == []
        assert lab.client("sqs").get_queue_attributes(QueueUrl=neighbour_queue.url, AttributeNames=["QueueArn"])
    finally:
        report = destroy_lab(neighbour)
        assert report.ok, report.summary()
        assert destroy_lab(lab).ok


def test_cleanup_is_safe_to_run_again_on_nothing(cloud):
    lab = Lab.connect(prefix=f"te{uuid.uuid4().hex[:6]}", announce=None)
    report = destroy_lab(lab)
    assert report.ok and report.deleted == [] and report.remaining == []
    assert sweep(lab).clean
