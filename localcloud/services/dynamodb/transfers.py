"""DynamoDB exports to and imports from S3, as AWS runs them.

>>> [record for _, record in dynamodb_json_records('{"Item": {"a": {"S": "1"}}}{"Item": {}}')]
[{'Item': {'a': {'S': '1'}}}, {'Item': {}}]
>>> pitr_error("orders", pitr_enabled=False)
"Point in time recovery is not enabled for table 'orders'"
"""

from __future__ import annotations

import json
from typing import Any

_DECODER = json.JSONDecoder()
MISSING_BUCKET = ("S3NoSuchBucket", "The specified bucket does not exist (Service: Amazon S3; Status Code: 404)")


def pitr_error(table: str, *, pitr_enabled: bool) -> str | None:
    """ExportTableToPointInTime needs point-in-time recovery on the table."""
    return None if pitr_enabled else f"Point in time recovery is not enabled for table '{table}'"


def dynamodb_json_records(text: str) -> list[tuple[int, Any]]:
    """``(line, record)`` for each JSON value in a DYNAMODB_JSON object, one a line or several
    on one line back to back (AWS reads both); an unreadable rest of a line is one
    ``(line, json.JSONDecodeError)``."""
    records: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines()):
        position, line = 0, line.strip()
        while position < len(line):
            try:
                record, position = _DECODER.raw_decode(line, position)
            except json.JSONDecodeError as unreadable:
                records.append((number, unreadable))
                break
            records.append((number, record))
            while position < len(line) and line[position].isspace():
                position += 1
    return records


def dynamodb_json_items(blob: bytes) -> tuple[list[tuple[int, dict]], list[tuple[int, str]]]:
    """``(items, malformed)`` of one DYNAMODB_JSON object, as MiniStack's import loop takes them."""
    items: list[tuple[int, dict]] = []
    malformed: list[tuple[int, str]] = []
    for number, record in dynamodb_json_records(blob.decode("utf-8", errors="replace")):
        if isinstance(record, json.JSONDecodeError):
            malformed.append((number, f"The item is not valid JSON: {record}"))
        elif isinstance(record, dict) and isinstance(record.get("Item"), dict):
            items.append((number, record["Item"]))
        else:
            malformed.append((number, "The item is not in DYNAMODB_JSON format"))
    return items, malformed
