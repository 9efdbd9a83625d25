"""Compact CloudWatch Logs events (localcloud/services/logs/store.py): same events, in time order, smaller held.

GetLogEvents / FilterLogEvents return a stream's events as written, in timestamp order
(https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html,
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html):
compacting must change nothing a reader sees.
"""

from __future__ import annotations

import copy
import heapq
import json
import pickle
import threading
from bisect import bisect_left, bisect_right

import pytest

from localcloud.services.logs import store as log_store
from localcloud.services.logs.responses import store_events
from localcloud.services.logs.store import BLOCK, CompactEvents


def event(t: int, text: str = "") -> dict:
    return {"timestamp": t, "message": text or f'{{"level": "INFO", "message": "line {t}"}}', "ingestionTime": t + 1}


def timestamp(e: dict) -> int:
    return e["timestamp"]


@pytest.mark.parametrize("count", [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 5 * BLOCK + 3])
def test_reads_return_the_events_as_written(count: int) -> None:
    originals = [event(n) for n in range(count)]
    events = CompactEvents(originals)
    assert len(events) == count and list(events) == originals and events == originals
    assert [events[i] for i in range(count)] == originals
    assert [events[-i] for i in range(1, count + 1)] == [originals[-i] for i in range(1, count + 1)]
    assert events[3 : count - 2] == originals[3 : count - 2] and events[::7] == originals[::7]
    with pytest.raises(IndexError):
        events[count]


def test_bisect_with_a_key_finds_what_a_list_does() -> None:
    originals = [event(n // 3) for n in range(4 * BLOCK)]  # equal timestamps, across block boundaries
    events = CompactEvents(originals)
    for t in (-1, 0, 20, 21, 42, 85, 200):
        assert bisect_left(events, t, key=timestamp) == bisect_left(originals, t, key=timestamp)
        assert bisect_right(events, t, key=timestamp) == bisect_right(originals, t, key=timestamp)


@pytest.mark.parametrize("late_at", [0, 5, BLOCK, 3 * BLOCK - 1, 3 * BLOCK + 2])
def test_a_late_batch_is_merged_as_a_stable_merge(late_at: int) -> None:
    originals = [event(n, f"old {n}") for n in range(3 * BLOCK + 4)]
    late = [event(late_at, "late a"), event(late_at, "late b"), event(late_at + 1, "late c")]
    events = CompactEvents(originals)
    events.merge(late, key=timestamp)
    assert list(events) == list(heapq.merge(originals, late, key=timestamp))


def test_edits_and_deletes_work_like_a_list() -> None:
    originals = [event(n) for n in range(2 * BLOCK + 5)]
    events, expected = CompactEvents(originals), list(originals)
    events[3] = expected[3] = event(3, "edited")
    del events[: BLOCK + 1]
    del expected[: BLOCK + 1]
    events.insert(2, event(99, "inserted"))
    expected.insert(2, event(99, "inserted"))
    assert list(events) == expected and len(events) == len(expected)


def test_copies_pickles_and_snapshots() -> None:
    events = CompactEvents(event(n) for n in range(BLOCK + 2))
    assert copy.deepcopy(events) == events and pickle.loads(pickle.dumps(events)) == events
    groups = {"/aws/lambda/f": {"streams": {"s": {"events": copy.deepcopy(events)}}}}
    log_store.plain_groups(groups)
    assert json.loads(json.dumps(groups))["/aws/lambda/f"]["streams"]["s"]["events"] == list(events)
    assert log_store.compact_groups(groups) == BLOCK + 2
    assert isinstance(groups["/aws/lambda/f"]["streams"]["s"]["events"], CompactEvents)


def test_store_events_keeps_order_and_stream_times() -> None:
    stream = {"events": [], "firstEventTimestamp": None, "lastEventTimestamp": None, "lastIngestionTime": None}
    lock = threading.Lock()
    store_events(stream, [event(n) for n in range(10, 2 * BLOCK)], lock)
    store_events(stream, [event(5, "late"), event(4, "later still")], lock)
    stamps = [e["timestamp"] for e in stream["events"]]
    assert isinstance(stream["events"], CompactEvents) and stamps == sorted(stamps) and len(stamps) == 2 * BLOCK - 8
    assert (stream["firstEventTimestamp"], stream["lastEventTimestamp"]) == (4, 2 * BLOCK - 1)
    assert stream["lastIngestionTime"] == 5  # the last event of the last batch, as MiniStack


def test_readers_during_appends_see_every_event_below_their_length() -> None:
    events, errors = CompactEvents(), []

    def read() -> None:
        for _ in range(300):
            size = len(events)
            try:
                assert all(events[i]["timestamp"] == i for i in range(max(0, size - 70), size))
            except AssertionError as error:
                errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(20 * BLOCK):
        events.append(event(n))
    reader.join()
    assert not errors


def test_held_smaller_than_the_list_of_dicts() -> None:
    lines = [
        event(
            n,
            json.dumps(
                {
                    "level": "INFO",
                    "location": "handler:42",
                    "message": "Order created",
                    "service": "orders",
                    "orderId": f"o-{n:06d}",
                    "cold_start": False,
                }
            ),
        )
        for n in range(10 * BLOCK)
    ]
    held = sum(len(b) for b in CompactEvents(lines)._view[0])
    assert held * 4 < sum(len(e["message"]) for e in lines)
