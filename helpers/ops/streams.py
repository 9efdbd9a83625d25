"""Read a DynamoDB stream directly, to look at the records a table change produced.

Event source mappings read streams for us; notebooks read one by hand to show what a
stream record looks like.

>>> record = find_stream_record(lab, table.stream_arn, order_id)     # doctest: +SKIP
>>> record["eventName"], record["dynamodb"]["Keys"]                  # doctest: +SKIP
('INSERT', {'orderId': {'S': '...'}})
"""

from __future__ import annotations

from typing import Any

from helpers.core.waiters import wait_until


def stream_records(lab, stream_arn: str, *, limit_per_shard: int = 1000) -> list[dict[str, Any]]:
    """Every record still in the stream (all shards, from TRIM_HORIZON), oldest first per shard."""
    streams = lab.client("dynamodbstreams")
    records: list[dict[str, Any]] = []
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamArn": stream_arn}
    while True:
        description = streams.describe_stream(**kwargs)["StreamDescription"]
        shards += description.get("Shards", [])
        last = description.get("LastEvaluatedShardId")
        if not last:
            break
        kwargs["ExclusiveStartShardId"] = last
    for shard in shards:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        read = 0
        while iterator and read < limit_per_shard:
            page = streams.get_records(ShardIterator=iterator, Limit=100)
            records += page.get("Records", [])
            read += len(page.get("Records", []))
            if not page.get("Records"):
                break  # caught up with the open shard
            iterator = page.get("NextShardIterator")
    return records


def find_stream_record(
    lab, stream_arn: str, order_id: str, *, event_name: str = "INSERT", timeout: float = 30
) -> dict[str, Any]:
    """The stream record of ``order_id`` (waits a little: records appear within a second or so)."""

    def lookup() -> dict[str, Any] | None:
        for record in stream_records(lab, stream_arn):
            if (
                record.get("eventName") == event_name
                and record.get("dynamodb", {}).get("Keys", {}).get("orderId", {}).get("S") == order_id
            ):
                return record
        return None

    return wait_until(lookup, timeout=timeout, interval=0.5, what=f"the {event_name} stream record of order {order_id}")
