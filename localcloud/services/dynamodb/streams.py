"""DynamoDB Streams records (MiniStack ``services/dynamodb.py``, ``_build_change_record``).

What it changes and why: docs/local-cloud-services.md, `localcloud/services/dynamodb/streams.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from localcloud.patches import PatchError, wrap

IMAGE_FIELDS = ("Keys", "NewImage", "OldImage")


def record_size_bytes(change: dict[str, Any], item_size: Callable[[dict], int]) -> int:
    """``SizeBytes`` of a stream record's ``dynamodb`` part: item size of Keys + NewImage + OldImage."""
    return sum(item_size(change[name]) for name in IMAGE_FIELDS if isinstance(change.get(name), dict))


def apply() -> None:
    from ministack.services import dynamodb

    item_size = getattr(dynamodb, "_item_size_bytes", None)
    if not callable(item_size):
        raise PatchError(
            "cannot patch DynamoDB Streams SizeBytes: ministack.services.dynamodb._item_size_bytes not found"
        )

    def make_build_change_record(original):
        def _build_change_record(*args: Any, **kwargs: Any) -> dict:
            record = original(*args, **kwargs)
            change = record.get("dynamodb") if isinstance(record, dict) else None
            if isinstance(change, dict):
                change["SizeBytes"] = record_size_bytes(change, item_size)
            return record

        return _build_change_record

    wrap(dynamodb, "_build_change_record", make_build_change_record)
    install_compact_records(dynamodb)


def install_compact_records(dynamodb: Any) -> None:
    """Keep each stream-enabled table's records in a :class:`localcloud.services.dynamodb.stream_store.CompactRecords`.

    Memory only (issue 8): the records and what readers get are unchanged, ~10x smaller held.
    MiniStack creates a table's list in ``_emit_stream_event``; this puts a compact one there
    first (also converting a plain list, e.g. one restored by persistence).
    """
    from localcloud.services.dynamodb.stream_store import CompactRecords

    if (
        not callable(getattr(dynamodb, "_emit_stream_event", None))
        or getattr(dynamodb, "_stream_records", None) is None
    ):
        raise PatchError(
            "cannot keep DynamoDB stream records compact: "
            "ministack.services.dynamodb._emit_stream_event/_stream_records not found"
        )

    def make_emit(original):
        def _emit_stream_event(table_name: str, *args: Any, **kwargs: Any):
            table = dynamodb._tables.get(table_name)
            if table and (table.get("StreamSpecification") or {}).get("StreamEnabled"):
                records = dynamodb._stream_records.get(table_name)
                if not isinstance(records, CompactRecords):
                    dynamodb._stream_records[table_name] = CompactRecords(records or ())
            return original(table_name, *args, **kwargs)

        return _emit_stream_event

    wrap(dynamodb, "_emit_stream_event", make_emit)
