"""Compact DynamoDB stream records (localcloud/services/dynamodb/stream_store.py): same records, smaller held.

DynamoDB Streams keeps each change record for 24 hours and readers get the records as written
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Streams.html): compacting
must change nothing a reader sees.
"""

from __future__ import annotations

import json
import pickle

from localcloud.services.dynamodb.stream_store import CompactRecords, plain


def record(n: int) -> dict:
    return {
        "eventID": f"e{n}",
        "eventName": "MODIFY",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_700_000_000 + n,
            "SequenceNumber": f"{n:030d}",
            "Keys": {"orderId": {"S": f"o-{n}"}},
            "OldImage": {"orderId": {"S": f"o-{n}"}, "status": {"S": "PENDING"}},
            "NewImage": {"orderId": {"S": f"o-{n}"}, "status": {"S": "CONFIRMED"}},
        },
    }


def test_reads_return_the_records_as_written() -> None:
    originals = [record(n) for n in range(10)]
    records = CompactRecords(originals[:5])
    for r in originals[5:]:
        records.append(r)
    assert len(records) == 10 and bool(records)
    assert records[0] == originals[0] and records[-1] == originals[-1]
    assert records[3:6] == originals[3:6]
    assert list(records) == originals
    assert [i for i, r in enumerate(records) if r["eventID"] == "e7"] == [7]


def test_trimming_the_front_keeps_the_rest() -> None:
    records = CompactRecords(record(n) for n in range(6))
    del records[:4]
    assert [r["eventID"] for r in records] == ["e4", "e5"]
    assert not CompactRecords()


def test_pickles_and_converts_to_json_ready_lists() -> None:
    records = CompactRecords(record(n) for n in range(3))
    assert list(pickle.loads(pickle.dumps(records))) == list(records)
    assert json.loads(json.dumps(plain(records))) == [record(n) for n in range(3)]
    assert plain([1]) == [1]
