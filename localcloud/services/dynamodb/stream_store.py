"""DynamoDB stream records kept compactly: each record pickled and compressed, decoded when read.

What it changes and why: docs/local-cloud-services.md, `localcloud/services/dynamodb/stream_store.py`.

>>> records = CompactRecords()
>>> records.append({"eventName": "INSERT", "dynamodb": {"Keys": {"id": {"S": "o-1"}}}})
>>> records[0]["dynamodb"]["Keys"], len(records), records[:1] == [records[0]]
({'id': {'S': 'o-1'}}, 1, True)
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Iterable, Iterator, MutableSequence
from typing import Any, overload

_LEVEL = 1  # zlib: level 1 already gets ~1.5x on a pickled record, at a few µs


def encode(value: Any) -> bytes:
    """A stream record (or, for :mod:`localcloud.services.logs.store`, a block of log events) as compressed bytes."""
    return zlib.compress(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), _LEVEL)


def decode(blob: bytes) -> Any:
    """What :func:`encode` stored (new objects each time)."""
    return pickle.loads(zlib.decompress(blob))


class CompactRecords(MutableSequence):
    """A list of stream records stored encoded (see the module docstring)."""

    __slots__ = ("_blobs", "_last")

    def __init__(self, records: Iterable[dict[str, Any]] = ()) -> None:
        self._blobs: list[bytes] = [encode(r) for r in records]
        # The last record decoded, by its blob: the retention check reads the oldest record on
        # every write; this makes that one decode per expiry, not one per write.
        self._last: tuple[bytes, dict[str, Any]] | None = None

    def _decode(self, blob: bytes) -> dict[str, Any]:
        last = self._last
        if last is not None and last[0] is blob:
            return last[1]
        record = decode(blob)
        self._last = (blob, record)
        return record

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [decode(b) for b in self._blobs[index]]
        return self._decode(self._blobs[index])

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            self._blobs[index] = [encode(r) for r in value]
        else:
            self._blobs[index] = encode(value)

    def __delitem__(self, index: int | slice) -> None:
        del self._blobs[index]

    def __len__(self) -> int:
        return len(self._blobs)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for blob in list(self._blobs):
            yield decode(blob)

    def insert(self, index: int, value: dict[str, Any]) -> None:
        self._blobs.insert(index, encode(value))

    def append(self, value: dict[str, Any]) -> None:
        self._blobs.append(encode(value))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CompactRecords):
            return self._blobs == other._blobs
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"CompactRecords({len(self._blobs)} records)"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_from_blobs, (list(self._blobs),))


def _from_blobs(blobs: list[bytes]) -> CompactRecords:
    records = CompactRecords()
    records._blobs = blobs
    return records


def plain(records: Any) -> Any:
    """``records`` as a plain list of dicts when compact (for JSON snapshots), else unchanged."""
    return list(records) if isinstance(records, CompactRecords) else records
