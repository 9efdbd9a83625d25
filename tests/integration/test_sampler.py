"""The background sampler on a real queue: started before the messages arrive, it sees the depth
rise, then fall as a consumer takes them — and the plot of it shows the same."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from helpers import Lab
from helpers.aws.sqs import ensure_queue
from helpers.core.waiters import WaitTimeout
from helpers.learn import plots
from helpers.ops.sampler import Sampler

pytestmark = pytest.mark.cloud
MESSAGES = 6


def test_the_sampler_sees_a_queue_fill_then_drain_and_the_plot_shows_it(lab: Lab) -> None:
    queue = ensure_queue(lab, "sampled")
    sqs = lab.client("sqs")
    with Sampler(lab, {"sampled": queue.url}, interval=0.1) as sampler:
        sampler.mark("send")
        sqs.send_message_batch(
            QueueUrl=queue.url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(MESSAGES)]
        )
        sampler.wait_until(lambda s: s.queue("sampled").visible >= MESSAGES, timeout=30, what="the messages")
        sampler.mark("consume")
        received = 0
        while received < MESSAGES:
            batch = sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10).get("Messages", [])
            for message in batch:
                sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
            received += len(batch)
        sampler.wait_until(lambda s: s.queue("sampled").total == 0, timeout=30, what="the queue to drain")

    depth = list(sampler.queue_frame()["visible"])
    peak = depth.index(max(depth))
    assert depth[0] == 0 and max(depth) == MESSAGES and depth[-1] == 0, depth
    assert depth[:peak] == sorted(depth[:peak]) and depth[peak:] == sorted(depth[peak:], reverse=True), depth
    assert [text for _, text in sampler.marks] == ["send", "consume"]

    (panel,) = plots.figure_data(plots.queue_timeline_plot(sampler, title="fill, then drain"))["axes"]
    drawn = next(line for line in panel["lines"] if line["label"] == "sampled: visible")
    assert drawn["y"] == depth
    assert [mark["text"] for mark in panel["marks"]] == ["send", "consume"]
    plt.close("all")


def test_a_wait_on_the_sampler_is_bounded_and_says_what_it_saw(lab: Lab) -> None:
    queue = ensure_queue(lab, "sampled-empty")
    sampler = Sampler(lab, {"empty": queue.url}, interval=0.1)
    with sampler, pytest.raises(WaitTimeout, match="empty: 0 visible, 0 in flight"):
        sampler.wait_until(lambda s: s.queue("empty").visible > 0, timeout=1, what="a message that never comes")
    assert len(sampler.snapshots) >= 2 and not sampler.errors
