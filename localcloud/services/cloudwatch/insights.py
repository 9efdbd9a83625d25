"""CloudWatch Metrics Insights queries in GetMetricData: the subset the local cloud runs.

``SELECT AVG|SUM|MIN|MAX|COUNT(metric) FROM "ns" | SCHEMA("ns"[, dim...]) [WHERE dim = 'v' [AND ...]]
[GROUP BY dim[, dim...]] [ORDER BY FUNC() [ASC|DESC]] [LIMIT n]`` (AWS's grammar:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-querylanguage.html).
Anything else is refused with :class:`InsightsError`.

>>> q = parse("SELECT SUM(Latency) FROM SCHEMA(\\"Shop\\", Path) WHERE Path != '/x' GROUP BY Path LIMIT 3")
>>> q.function, q.metric, q.namespace, q.schema, q.where, q.group_by, q.limit
('SUM', 'Latency', 'Shop', ('Path',), (('Path', '!=', '/x'),), ('Path',), 3)
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FUNCTIONS = {"AVG": "Average", "SUM": "Sum", "MIN": "Minimum", "MAX": "Maximum", "COUNT": "SampleCount"}
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<quoted>\"(?:[^\"]|\"\")*\")|(?P<op>!=|[(),=])|(?P<word>[\w.\-/:#*]+))"
)


class InsightsError(ValueError):
    """A query outside the supported grammar."""


@dataclass(frozen=True)
class Query:
    """A parsed Metrics Insights query."""

    function: str
    metric: str
    namespace: str
    schema: tuple[str, ...] | None  # SCHEMA(...)'s dimension keys: exactly these; None: any
    where: tuple[tuple[str, str, str], ...] = ()
    group_by: tuple[str, ...] = ()
    order: str | None = None  # "ASC" / "DESC" by the query's function
    limit: int | None = None


def looks_like_insights(expression: Any) -> bool:
    """True for a Metrics Insights query (it starts with SELECT), not metric math.

    >>> looks_like_insights(" select avg(x) from y"), looks_like_insights("m1 + m2")
    (True, False)
    """
    return isinstance(expression, str) and expression.lstrip()[:7].upper() == "SELECT "


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise InsightsError(f"unexpected character {text[position:].strip()[:1]!r} at position {position}")
        kind = match.lastgroup or ""
        raw = match.group(kind)
        if kind in ("str", "quoted"):
            raw = raw[1:-1].replace(raw[0] * 2, raw[0])
        tokens.append((kind, raw))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.position = 0

    def peek_keyword(self, *words: str) -> bool:
        if self.position + len(words) > len(self.tokens):
            return False
        return all(
            kind == "word" and raw.upper() == word
            for (kind, raw), word in zip(self.tokens[self.position :], words, strict=False)
        )

    def take(self) -> tuple[str, str]:
        if self.position >= len(self.tokens):
            raise InsightsError("unexpected end of query")
        token = self.tokens[self.position]
        self.position += 1
        return token

    def keyword(self, *words: str) -> None:
        for word in words:
            kind, raw = self.take()
            if kind != "word" or raw.upper() != word:
                raise InsightsError(f"expected {word}, found {raw!r}")

    def symbol(self, symbol: str) -> None:
        kind, raw = self.take()
        if kind != "op" or raw != symbol:
            raise InsightsError(f"expected {symbol!r}, found {raw!r}")

    def name(self) -> str:
        kind, raw = self.take()
        if kind not in ("word", "quoted"):
            raise InsightsError(f"expected a name, found {raw!r}")
        return raw

    def names(self) -> tuple[str, ...]:
        found = [self.name()]
        while self.position < len(self.tokens) and self.tokens[self.position] == ("op", ","):
            self.position += 1
            found.append(self.name())
        return tuple(found)

    def function(self) -> str:
        kind, raw = self.take()
        if kind != "word" or raw.upper() not in FUNCTIONS:
            raise InsightsError(f"unsupported function {raw!r} (supported: {', '.join(FUNCTIONS)})")
        return raw.upper()


def parse(text: str) -> Query:
    """Parse one query; raise :class:`InsightsError` for what is not supported."""
    p = _Parser(text)
    p.keyword("SELECT")
    function = p.function()
    p.symbol("(")
    metric = p.name()
    p.symbol(")")
    p.keyword("FROM")
    schema: tuple[str, ...] | None = None
    if p.peek_keyword("SCHEMA"):
        p.keyword("SCHEMA")
        p.symbol("(")
        namespace, *keys = p.names()
        schema = tuple(keys)
        p.symbol(")")
    else:
        namespace = p.name()
    where: list[tuple[str, str, str]] = []
    if p.peek_keyword("WHERE"):
        p.keyword("WHERE")
        while True:
            dimension = p.name()
            kind, op = p.take()
            if kind != "op" or op not in ("=", "!="):
                raise InsightsError(f"unsupported comparison {op!r} (supported: =, !=)")
            kind, value = p.take()
            if kind != "str":
                raise InsightsError(f"expected a quoted string value, found {value!r}")
            where.append((dimension, op, value))
            if not p.peek_keyword("AND"):
                break
            p.keyword("AND")
    group_by: tuple[str, ...] = ()
    if p.peek_keyword("GROUP", "BY"):
        p.keyword("GROUP", "BY")
        group_by = p.names()
    order = None
    if p.peek_keyword("ORDER", "BY"):
        p.keyword("ORDER", "BY")
        if p.function() != function:
            raise InsightsError("ORDER BY must use the query's function")
        p.symbol("(")
        p.symbol(")")
        order = "ASC"
        if p.peek_keyword("ASC") or p.peek_keyword("DESC"):
            order = p.take()[1].upper()
    limit = None
    if p.peek_keyword("LIMIT"):
        p.keyword("LIMIT")
        raw = p.take()[1]
        if not raw.isdigit() or not 1 <= int(raw) <= 500:
            raise InsightsError(f"LIMIT must be an integer from 1 to 500, found {raw!r}")
        limit = int(raw)
    if p.position < len(p.tokens):
        raise InsightsError(f"unexpected {p.tokens[p.position][1]!r}")
    return Query(function, metric, namespace, schema, tuple(where), group_by, order, limit)


def matches(query: Query, namespace: str, metric: str, dimensions: Mapping[str, str]) -> bool:
    """Whether one metric is in the query's FROM and WHERE.

    >>> q = parse("SELECT AVG(L) FROM SCHEMA(S, Path)")
    >>> matches(q, "S", "L", {"Path": "/a"}), matches(q, "S", "L", {"Path": "/a", "Host": "h"})
    (True, False)
    """
    if namespace != query.namespace or metric != query.metric:
        return False
    if query.schema is not None and set(dimensions) != set(query.schema):
        return False
    return all((dimensions.get(key) == value) == (op == "=") for key, op, value in query.where)


@dataclass(frozen=True)
class Series:
    """One result time series: its label and (period start, value) pairs."""

    label: str
    points: tuple[tuple[float, float], ...]


def run(
    query: Query,
    metrics: Iterable[tuple[str, str, Mapping[str, str], Sequence[dict[str, Any]]]],
    start: float,
    end: float,
    period: int,
    stats: Callable[[list[dict[str, Any]]], dict[str, float]],
) -> list[Series]:
    """The query over ``(namespace, metric, dimensions, points)``: one series per group (label: the group's
    values; a metric without a GROUP BY dimension is in the ``Other`` group), ``stats`` being MiniStack's
    statistics of a list of points (``Sum``, ``SampleCount``, ``Average``, ``Minimum``, ``Maximum``)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for namespace, metric, dimensions, points in metrics:
        if matches(query, namespace, metric, dimensions):
            key = tuple(dimensions.get(d, "Other") for d in query.group_by)
            groups[key].extend(p for p in points if start <= p["Timestamp"] < end)
    statistic = FUNCTIONS[query.function]
    series = []
    for key, points in groups.items():
        buckets: dict[float, list[dict[str, Any]]] = defaultdict(list)
        for point in points:
            buckets[int(point["Timestamp"] // period) * period].append(point)
        values = tuple((at, stats(bucket)[statistic]) for at, bucket in sorted(buckets.items()) if stats(bucket))
        if values:
            series.append((stats(points).get(statistic, 0.0), Series(" ".join(key), values)))
    if query.order:
        series.sort(key=lambda pair: pair[0], reverse=query.order == "DESC")
    else:
        series.sort(key=lambda pair: pair[1].label)
    return [s for _, s in series[: query.limit]]
