"""CloudWatch Logs events kept compactly: sealed blocks of events pickled and compressed.

What it changes and why: docs/local-cloud-services.md, `localcloud/services/logs/store.py`.

>>> events = CompactEvents()
>>> events.extend({"timestamp": t, "message": f"line {t}", "ingestionTime": t} for t in range(100))
>>> len(events), events[70]["message"], events[-1]["timestamp"], events[98:] == [events[98], events[99]]
(100, 'line 70', 99, True)
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterable, Iterator, MutableSequence
from typing import Any, overload

from localcloud.services.dynamodb.stream_store import decode, encode  # one codec: pickled, zlib level 1

Event = dict[str, Any]
BLOCK = 64  # events per sealed block: ~20 KB of JSON lines, one decode serves a page of readers


class CompactEvents(MutableSequence):
    """A log stream's events in time order, stored in compressed blocks (see the module docstring)."""

    __slots__ = ("_cache", "_view")

    def __init__(self, events: Iterable[Event] = ()) -> None:
        # (sealed blocks, open tail): replaced as a whole on a seal, so readers see a consistent pair.
        self._view: tuple[list[bytes], list[Event]] = ([], [])
        # The last block decoded (by its blob): bisect and page reads hit the same block repeatedly.
        self._cache: tuple[bytes, list[Event]] | None = None
        self.extend(events)

    # ------------------------------------------------------------------ reading

    def _block(self, blob: bytes) -> list[Event]:
        cache = self._cache
        if cache is not None and cache[0] is blob:
            return cache[1]
        events = decode(blob)
        self._cache = (blob, events)
        return events

    def __len__(self) -> int:
        blocks, tail = self._view
        return len(blocks) * BLOCK + len(tail)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        blocks, tail = self._view
        sealed = len(blocks) * BLOCK
        size = sealed + len(tail)
        if isinstance(index, slice):
            return [self._at(blocks, tail, sealed, i) for i in range(*index.indices(size))]
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError("log event index out of range")
        return self._at(blocks, tail, sealed, index)

    def _at(self, blocks: list[bytes], tail: list[Event], sealed: int, index: int) -> Event:
        if index >= sealed:
            return tail[index - sealed]
        return self._block(blocks[index // BLOCK])[index % BLOCK]

    def __iter__(self) -> Iterator[Event]:
        blocks, tail = self._view
        for blob in list(blocks):
            yield from decode(blob)
        yield from list(tail)

    # ------------------------------------------------------------------ writing

    def append(self, value: Event) -> None:
        blocks, tail = self._view
        tail.append(value)
        if len(tail) >= BLOCK:
            self._view = ([*blocks, encode(tail[:BLOCK])], tail[BLOCK:])

    def extend(self, values: Iterable[Event]) -> None:
        for value in values:
            self.append(value)

    def _rewrite(self, change: Any) -> None:
        """Apply ``change`` to the events as a plain list and store the result (rare: late events, edits)."""
        events = list(self)
        change(events)
        blocks = [encode(events[i : i + BLOCK]) for i in range(0, len(events) - len(events) % BLOCK, BLOCK)]
        self._view = (blocks, events[len(blocks) * BLOCK :])
        self._cache = None

    def merge(self, ordered: list[Event], key: Any) -> None:
        """Insert time-ordered ``ordered`` after every event with the same or an earlier ``key`` (a stable
        merge, as ``heapq.merge(self, ordered)``), decoding only the blocks from the first insertion on."""
        position = bisect_right(self, key(ordered[0]), key=key)
        blocks, tail = self._view
        first_block = min(position // BLOCK, len(blocks))
        later = [e for blob in blocks[first_block:] for e in decode(blob)] + list(tail)
        merged = list(heapq.merge(later, ordered, key=key))
        kept = blocks[:first_block]
        whole = len(merged) - len(merged) % BLOCK
        self._view = (kept + [encode(merged[i : i + BLOCK]) for i in range(0, whole, BLOCK)], merged[whole:])
        self._cache = None

    def __setitem__(self, index: Any, value: Any) -> None:
        def change(events: list[Event]) -> None:
            events[index] = value

        self._rewrite(change)

    def __delitem__(self, index: int | slice) -> None:
        def change(events: list[Event]) -> None:
            del events[index]

        self._rewrite(change)

    def insert(self, index: int, value: Event) -> None:
        if index >= len(self):
            self.append(value)
            return

        def change(events: list[Event]) -> None:
            events.insert(index, value)

        self._rewrite(change)

    # ------------------------------------------------------------------ copying, comparing

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (CompactEvents, list)):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"CompactEvents({len(self)} events)"

    def __reduce__(self) -> tuple[Any, ...]:
        blocks, tail = self._view
        return (_from_view, (list(blocks), [dict(e) for e in tail]))


def _from_view(blocks: list[bytes], tail: list[Event]) -> CompactEvents:
    events = CompactEvents()
    events._view = (blocks, tail)
    return events


def compact_stream(stream: dict[str, Any]) -> CompactEvents:
    """The stream's events as :class:`CompactEvents`, converting (once) a plain list MiniStack created."""
    events = stream.get("events")
    if not isinstance(events, CompactEvents):
        events = CompactEvents(events or [])
        stream["events"] = events
    return events


def plain(events: Any) -> Any:
    """``events`` as a plain list of dicts when compact (for JSON snapshots), else unchanged."""
    return list(events) if isinstance(events, CompactEvents) else events


def _streams(groups: Any) -> Iterator[dict[str, Any]]:
    """Every stream of MiniStack's ``_log_groups`` (a scoped dict: its values, whatever the scope)."""
    values = getattr(groups, "_data", groups)
    for group in list(values.values()):
        yield from list((group.get("streams") or {}).values())


def plain_groups(groups: Any) -> Any:
    """A snapshot's ``log_groups`` (a copy) with plain lists of events, for JSON; returns ``groups``."""
    for stream in _streams(groups):
        stream["events"] = plain(stream.get("events", []))
    return groups


def compact_groups(groups: Any) -> int:
    """Store every stream of the live ``log_groups`` compactly (after a restore); the number of events."""
    return sum(len(compact_stream(stream)) for stream in _streams(groups))
