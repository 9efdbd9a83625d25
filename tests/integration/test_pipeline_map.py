"""The live pipeline map on a deployed pipeline: real figures on every part, redrawn while orders flow."""

from __future__ import annotations

import pytest
from cloudtest import own_prefix

from helpers.core.calls import recording
from helpers.core.waiters import wait_until
from helpers.learn.demo import send_burst
from helpers.learn.pipeline_map import NODES, PipelineMap, draw_map, read_pipeline
from helpers.pipeline.catalog import ALARM_KEYS
from helpers.pipeline.orders_api import OrdersApi
from helpers.pipeline.step4 import deploy_high_value_routing
from helpers.pipeline.step5 import deploy_pipeline
from helpers.pipeline.step6 import deploy_alerting

pytestmark = [pytest.mark.cloud, pytest.mark.slow]


@pytest.fixture(scope="module")
def mapped(lab):
    with own_prefix(lab, "map") as own:
        yield own


def test_an_empty_prefix_shows_every_part_not_deployed(mapped) -> None:
    figures = read_pipeline(mapped)
    assert set(figures.nodes) == {node.key for node in NODES}
    assert not any(part.present for part in figures.nodes.values())
    texts = [text.get_text() for text in draw_map(figures).axes[0].texts]
    assert texts.count("not deployed") == len(NODES)


def test_the_map_counts_what_flows_through_the_pipeline(mapped) -> None:
    deploy_pipeline(mapped)
    deploy_high_value_routing(mapped)
    deploy_alerting(mapped)
    live = PipelineMap(mapped, interval=0.2)
    live.start()
    try:
        send_burst(OrdersApi.for_lab(mapped), 6, progress=False)
        figures = wait_until(
            lambda: (
                (f := live.last)
                and f["create-order"].values.get("invocations", 0) >= 6
                and f["api"].values.get("requests", 0) >= 6
                and f["stream-processor"].values.get("invocations", 0) >= 1
                and f
            ),
            timeout=60,
            interval=0.5,
            what="the map showing the burst's requests and invocations",
        )
    finally:
        final = live.stop()
    assert live.frames >= 3 and live.error is None
    assert live._thread is not None and not live._thread.is_alive()
    for key in ("api", "create-order", "orders", "stream", "order-queue", "order-dlq", "pipe", "alarms", "topic"):
        assert figures[key].present, key
    assert figures["pipe"].values == {"state": "RUNNING"}
    assert set(final["alarms"].values) == set(ALARM_KEYS)
    assert figures["create-order"].values["errors"] == 0 and figures["create-order"].values["p50_ms"] > 0
    assert set(figures["order-queue"].values) == {"visible", "in_flight"}
    texts = " ".join(text.get_text() for text in draw_map(final).axes[0].texts)
    assert f"{final['api'].values['requests']} requests" in texts and "RUNNING" in texts


def test_a_map_lists_the_functions_once_not_on_every_frame(mapped) -> None:
    live = PipelineMap(mapped)
    with recording(mapped) as first:
        live.refresh()
    with recording(mapped) as later:
        live.refresh()
        live.refresh()
    assert "ListFunctions" in first.operations()
    assert [call.operation for call in later].count("ListFunctions") == 0
    assert [call.operation for call in later].count("GetMetricData") == 2, "each frame still reads the metrics"
    assert live.last is not None and live.last["order-worker"].present


def test_a_message_in_the_dlq_turns_its_part_red(mapped) -> None:
    sqs = mapped.client("sqs")
    url = sqs.get_queue_url(QueueName=mapped.name("order-dlq"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    figures = wait_until(
        lambda: (f := read_pipeline(mapped))["order-dlq"].values["visible"] >= 1 and f,
        timeout=10,
        what="the DLQ's message on the map",
    )
    assert figures["order-dlq"].health == "problem"
    assert figures["order-dlq"].lines == ["1 message"]
