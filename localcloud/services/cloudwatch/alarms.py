"""CloudWatch metric-alarm evaluation as AWS documents it: pure functions, no MiniStack, no clock.

What it changes and why: docs/local-cloud-services.md, `localcloud/services/cloudwatch/alarms.py`.

>>> rule = AlarmRule("GreaterThanOrEqualToThreshold", 1.0, evaluation_periods=3, datapoints_to_alarm=3)
>>> evaluate([None, None, _pv(5.0), None, None], rule).state       # "- - X - -": premature ALARM
'ALARM'
>>> evaluate([None] * 5, rule).state
'INSUFFICIENT_DATA'
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT_DATA)
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")
BASIC_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
HIGH_RESOLUTION_PERIODS = (10, 20, 30)
# AWS: "CloudWatch attempts to retrieve a higher number of data points than the number specified
# as Evaluation Periods"; its worked examples use a range of 5 for 3 periods. The exact rule is not
# published, so the range is always N + 2 periods.
EVALUATION_RANGE_EXTRA = 2
_EPSILON = 1e-6  # seconds: float slack when placing a timestamp that sits exactly on a period edge

_COMPARISONS: dict[str, tuple[Any, str]] = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
COMPARISONS = tuple(_COMPARISONS)
_PERCENTILE = re.compile(r"^[pP](\d{1,2}(\.\d{1,10})?|100(\.0{1,10})?)$")


# ---------------------------------------------------------------------------
# Time: the local cloud's time scale
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeScale:
    """How many times faster than real time alarm periods run locally (1 = exactly AWS).

    Only the alarm clock is scaled: a Period of P seconds spans ``P / factor`` wall seconds, an
    alarm is evaluated every CloudWatch minute (``60 / factor`` wall seconds; every 10 s, scaled,
    for a high-resolution period), and an AWS service that publishes once a minute publishes every
    ``60 / factor`` wall seconds. Datapoint timestamps stay real.

    >>> TimeScale(12).minute, TimeScale(12).length(300), TimeScale(12).cadence(10)
    (5.0, 25.0, 0.8333333333333334)
    """

    factor: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.factor, (int, float)) and math.isfinite(self.factor) and self.factor >= 1):
            raise ValueError(f"the time scale must be a number >= 1, got {self.factor!r}")

    @property
    def minute(self) -> float:
        """Wall seconds of one CloudWatch minute."""
        return 60.0 / self.factor

    def length(self, seconds: float) -> float:
        """Wall seconds of ``seconds`` of alarm time."""
        return seconds / self.factor

    def cadence(self, period: int) -> float:
        """Wall seconds between two evaluations of an alarm with this period: AWS evaluates every
        minute, a high-resolution alarm (period under 60 s) every 10 seconds."""
        return self.length(10 if period < 60 else 60)


def tick_index(now: float, cadence: float) -> int:
    """The index k of the latest tick ``k * cadence`` at or before ``now``."""
    return math.floor((now + _EPSILON) / cadence)


def valid_period(period: Any) -> bool:
    """AWS: "Valid values are 10, 20, 30, and any multiple of 60"."""
    return isinstance(period, int) and period > 0 and (period in HIGH_RESOLUTION_PERIODS or period % 60 == 0)


# ---------------------------------------------------------------------------
# Statistics over stored datapoints (MiniStack's point dicts)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodValue:
    """The statistic of one period: ``start`` is its first second (wall time)."""

    start: float
    value: float
    sample_count: float


@dataclass
class _Bucket:
    count: float = 0.0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    samples: list[tuple[float, float]] | None = None
    percentile_ok: bool = True

    def add(self, point: Mapping[str, Any]) -> None:
        count, total, low, high = point_stats(point)
        if count <= 0:
            return
        self.count += count
        self.total += total
        self.low = min(self.low, low)
        self.high = max(self.high, high)
        # A percentile needs the values: a published statistic set only qualifies when it is one
        # value repeated, and CloudWatch computes no percentile over negative values.
        uniform = point.get("_stat") is None or (low == high and total == low * count)
        if not uniform or low < 0:
            self.percentile_ok = False
        elif self.percentile_ok:
            if self.samples is None:
                self.samples = []
            self.samples.append((low, count))


def point_stats(point: Mapping[str, Any]) -> tuple[float, float, float, float]:
    """(SampleCount, Sum, Minimum, Maximum) of one stored point: a value seen ``Count`` times, or a
    published statistic set (``_stat``)."""
    stat = point.get("_stat")
    if stat is not None:
        return (
            float(stat.get("SampleCount", 0)),
            float(stat.get("Sum", 0)),
            float(stat.get("Minimum", 0)),
            float(stat.get("Maximum", 0)),
        )
    count = float(point.get("Count", 1.0))
    value = float(point["Value"])
    return count, value * count, value, value


def percentile_of(name: str) -> float | None:
    """The percentile (0-100) an extended statistic names (``p99``, ``p99.9``), or None."""
    match = _PERCENTILE.match(name or "")
    return float(match.group(1)) if match else None


def weighted_percentile(samples: Sequence[tuple[float, float]], pct: float) -> float:
    """Percentile of (value, weight) samples, linearly interpolated between the nearest ranks
    (the same method MiniStack's GetMetricData uses, so alarms and graphs agree)."""
    ordered = sorted(samples)
    total = sum(weight for _, weight in ordered)
    rank = (pct / 100.0) * (total - 1) if total > 1 else 0.0

    def at(index: float) -> float:
        seen = 0.0
        for value, weight in ordered:
            seen += weight
            if index < seen:
                return value
        return ordered[-1][0]

    lower = int(rank)
    frac = rank - lower
    low = at(lower)
    return low + frac * (at(lower + 1) - low) if frac else low


def _statistic(bucket: _Bucket, statistic: str) -> float | None:
    if bucket.count <= 0:
        return None
    if statistic == "SampleCount":
        return bucket.count
    if statistic == "Sum":
        return bucket.total
    if statistic == "Average":
        return bucket.total / bucket.count
    if statistic == "Minimum":
        return bucket.low
    if statistic == "Maximum":
        return bucket.high
    pct = percentile_of(statistic)
    if pct is not None and bucket.percentile_ok and bucket.samples:
        return weighted_percentile(bucket.samples, pct)
    return None


def period_values(
    points: Iterable[Mapping[str, Any]],
    *,
    end: float,
    length: float,
    count: int,
    statistic: str,
    unit: str | None = None,
    snap: float | None = None,
) -> list[PeriodValue | None]:
    """The statistic of each of ``count`` sliding periods of ``length`` seconds ending at ``end``,
    newest first (index 0 is ``[end - length, end)``); None where a period has no datapoint.

    ``unit``: only datapoints stored with that unit count (CloudWatch does no unit conversion).
    ``snap``: standard-resolution datapoints (not ``StorageResolution`` 1) are placed at the
    start of their ``snap``-second bucket, as CloudWatch stores them at one-minute resolution.
    """
    buckets: list[_Bucket | None] = [None] * count
    oldest = end - length * count - (snap or 0.0)
    for point in points:
        ts = float(point.get("Timestamp", 0.0))
        if ts < oldest or ts >= end + length:
            continue
        if unit and point.get("Unit", "None") != unit:
            continue
        if snap and point.get("StorageResolution") != 1:
            ts = math.floor((ts + _EPSILON) / snap) * snap
        index = math.floor((end - ts - _EPSILON) / length)
        if 0 <= index < count:
            bucket = buckets[index]
            if bucket is None:
                bucket = buckets[index] = _Bucket()
            bucket.add(point)
    out: list[PeriodValue | None] = []
    for index, bucket in enumerate(buckets):
        value = _statistic(bucket, statistic) if bucket is not None else None
        if bucket is None or value is None:
            out.append(None)
        else:
            out.append(PeriodValue(end - length * (index + 1), value, bucket.count))
    return out


def low_sample_count(statistic: str, sample_count: float) -> bool:
    """AWS: for percentiles in [0.5, 1) fewer than 10/(1-p) samples is low, for (0, 0.5) 10/p."""
    pct = percentile_of(statistic)
    if pct is None:
        return False
    fraction = pct / 100.0
    if fraction >= 1.0 or fraction <= 0.0:
        return sample_count < 10
    needed = 10.0 / (1.0 - fraction) if fraction >= 0.5 else 10.0 / fraction
    return sample_count < needed


# ---------------------------------------------------------------------------
# The decision: M out of N over the evaluation range, missing data
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmRule:
    """What decides an alarm's state from its period values."""

    comparison: str
    threshold: float
    evaluation_periods: int = 1
    datapoints_to_alarm: int | None = None
    treat_missing_data: str = "missing"

    @property
    def m(self) -> int:
        m = self.datapoints_to_alarm or self.evaluation_periods
        return max(1, min(m, self.evaluation_periods))

    @property
    def range(self) -> int:
        return self.evaluation_periods + EVALUATION_RANGE_EXTRA

    def breaches(self, value: float) -> bool:
        check = _COMPARISONS.get(self.comparison)
        return bool(check and check[0](value, self.threshold))

    @property
    def words(self) -> str:
        return _COMPARISONS.get(self.comparison, (None, self.comparison))[1]


@dataclass(frozen=True)
class Decision:
    """The outcome of one evaluation. ``state`` None means "keep the current state"."""

    state: str | None
    evaluated: tuple[PeriodValue, ...] = ()  # the real datapoints the decision used, newest first
    filled: int = 0  # missing datapoints filled in with the treatment
    treated_as: str = ""  # "Breaching" / "NonBreaching" for the filled ones
    breaching: int = 0  # breaching datapoints counted (filled included)
    premature: bool = False  # ALARM by "Avoiding premature transitions"


def evaluate(values: Sequence[PeriodValue | None], rule: AlarmRule, *, namespace: str = "") -> Decision:
    """Decide the alarm state from the period values of its evaluation range (newest first).

    AWS: with at least N real datapoints in the range, the most recent N real ones decide and how
    missing data is treated does not matter; with none, the treatment decides alone; otherwise the
    missing ones are filled in with the treatment ("as few times as possible") and every real
    datapoint of the range is included.
    """
    n, m = rule.evaluation_periods, rule.m
    treat = rule.treat_missing_data if rule.treat_missing_data in TREATMENTS else "missing"
    if namespace == "AWS/DynamoDB":
        treat = "ignore"  # PutMetricAlarm: AWS/DynamoDB alarms "always ignore missing data"
    span = list(values[: rule.range])
    real = [(age, v) for age, v in enumerate(span) if v is not None]

    if len(real) >= n:
        used = tuple(v for _, v in real[:n])
        breaching = sum(1 for v in used if rule.breaches(v.value))
        return Decision(ALARM if breaching >= m else OK, used, breaching=breaching)

    if not real:
        if treat == "breaching":
            return Decision(ALARM, filled=n, treated_as="Breaching", breaching=n)
        if treat == "notBreaching":
            return Decision(OK, filled=n, treated_as="NonBreaching")
        if treat == "ignore":
            return Decision(None)
        return Decision(INSUFFICIENT_DATA)

    used = tuple(v for _, v in real)
    real_breaching = sum(1 for v in used if rule.breaches(v.value))
    fill = n - len(real)
    if treat == "breaching":
        total = real_breaching + fill
        return Decision(ALARM if total >= m else OK, used, fill, "Breaching", total)
    if treat == "notBreaching":
        return Decision(ALARM if real_breaching >= m else OK, used, fill, "NonBreaching", real_breaching)
    if _premature(real, rule):
        return Decision(None) if treat == "ignore" else Decision(ALARM, used, breaching=real_breaching, premature=True)
    return Decision(ALARM if real_breaching >= m else OK, used, breaching=real_breaching)


def _premature(real: Sequence[tuple[int, PeriodValue]], rule: AlarmRule) -> bool:
    """AWS: alarms "always go into ALARM state when the oldest available breaching datapoint during
    the Evaluation Periods number of data points is at least as old as the value of Datapoints to
    Alarm, and all other more recent data points are breaching or missing". The doc's 2-of-3 row
    "0 - X - -" stays OK, so a non-breaching datapoint anywhere in the range rules it out."""
    if not all(rule.breaches(v.value) for _, v in real):
        return False
    recent = [age for age, _ in real if age < rule.evaluation_periods]
    return bool(recent) and max(recent) + 1 >= rule.m


# ---------------------------------------------------------------------------
# How AWS words it
# ---------------------------------------------------------------------------


def java_double(value: float) -> str:
    """A number as CloudWatch prints it (Java's Double.toString): 1.0, 94.10166666666666, 1.0E7."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if ("." in text or "e" in text) else text + ".0"
    exact = Decimal(repr(value))
    sign, digits, _ = exact.as_tuple()
    mantissa = "".join(str(d) for d in digits).rstrip("0") or "0"
    return f"{'-' if sign else ''}{mantissa[0]}.{mantissa[1:] or '0'}E{exact.adjusted()}"


def reason_time(ts: float) -> str:
    """A datapoint's time in a StateReason: ``14/05/25 01:55:00`` (UTC)."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%d/%m/%y %H:%M:%S")


def iso_millis(ts: float) -> str:
    """``2025-05-14T01:58:11.589+0000``: how alarm notifications and StateReasonData write times."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _plural(count: int, word: str = "datapoint") -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _was(count: int) -> str:
    return "was" if count == 1 else "were"


def _listing(points: Iterable[PeriodValue]) -> str:
    return ", ".join(f"{java_double(p.value)} ({reason_time(p.start)})" for p in points)


def state_reason(decision: Decision, rule: AlarmRule, old_state: str) -> str:
    """The StateReason AWS gives a transition to ``decision.state``."""
    if decision.state == INSUFFICIENT_DATA:
        n = rule.evaluation_periods
        return f"Insufficient Data: {_plural(n)} {_was(n)} unknown."
    threshold = java_double(rule.threshold)
    real_breaching = [p for p in decision.evaluated if rule.breaches(p.value)]
    relies_on_fill = decision.filled and (
        not decision.evaluated
        or (decision.state == ALARM and len(real_breaching) < rule.m)
        or (decision.state == OK and len(real_breaching) == len(decision.evaluated))
    )
    if relies_on_fill:
        f = decision.filled
        return (
            f"Threshold Crossed: no datapoints were received for {_plural(f, 'period')} and "
            f"{f} missing {'datapoint' if f == 1 else 'datapoints'} {_was(f)} treated as "
            f"[{decision.treated_as}]."
        )
    if decision.state == ALARM:
        k, n, m = len(real_breaching), len(decision.evaluated) + decision.filled, rule.m
        minimum = f" (minimum {_plural(m)} for {old_state} -> ALARM transition)."
        if k == n:
            return (
                f"Threshold Crossed: {k} out of the last {n} datapoints [{_listing(real_breaching)}] {_was(k)} "
                f"{rule.words} the threshold ({threshold}){minimum}"
            )
        return (
            f"Threshold Crossed: {k} out of the last {n} datapoints {_was(k)} {rule.words} the threshold "
            f"({threshold}). The most recent datapoints which crossed the threshold: "
            f"[{_listing(real_breaching)}]{minimum}"
        )
    calm = [p for p in decision.evaluated if not rule.breaches(p.value)]
    return (
        f"Threshold Crossed: {_plural(len(calm))} [{_listing(calm)}] {_was(len(calm))} not {rule.words} "
        f"the threshold ({threshold})."
    )


def state_reason_data(
    decision: Decision,
    rule: AlarmRule,
    *,
    statistic: str,
    period: int,
    query_date: float,
    values: Sequence[PeriodValue | None],
    unit: str | None = None,
) -> str:
    """The StateReasonData JSON AWS attaches to an evaluated transition."""
    data: dict[str, Any] = {"version": "1.0", "queryDate": iso_millis(query_date)}
    span = [v for v in values[: rule.range]]
    starts = [v.start for v in decision.evaluated]
    if starts:
        data["startDate"] = iso_millis(min(starts))
    if unit:
        data["unit"] = unit
    data["extendedStatistic" if percentile_of(statistic) is not None else "statistic"] = statistic
    data["period"] = period
    data["recentDatapoints"] = [v.value for v in reversed(span) if v is not None]
    data["threshold"] = rule.threshold
    if decision.state != INSUFFICIENT_DATA:
        data["evaluatedDatapoints"] = [
            {"timestamp": iso_millis(p.start), "sampleCount": p.sample_count, "value": p.value}
            for p in decision.evaluated
        ]
    return json.dumps(data, separators=(",", ":"))


# ---------------------------------------------------------------------------
# Metric math (the subset an alarm usually needs)
# ---------------------------------------------------------------------------


class ExpressionError(ValueError):
    """A metric math expression the local cloud cannot evaluate."""


_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)|([A-Za-z_][A-Za-z0-9_]*)|(.))")
FUNCTIONS = ("FILL", "ABS")


def parse_expression(text: str) -> tuple:
    """Parse ``text`` into a small tree; raise :class:`ExpressionError` for what is not supported.

    >>> parse_expression("100 * e1 / (m1 + FILL(m2, 0))")[0]
    'binary'
    """
    tokens: list[tuple[str, str]] = []
    for number, name, other in _TOKEN.findall(text or ""):
        if number:
            tokens.append(("num", number))
        elif name:
            tokens.append(("name", name))
        elif other.strip():
            tokens.append(("op", other))
    position = 0

    def peek() -> tuple[str, str] | None:
        return tokens[position] if position < len(tokens) else None

    def take(kind: str, value: str | None = None) -> str:
        nonlocal position
        token = peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise ExpressionError(f"unexpected {'end' if token is None else repr(token[1])} in {text!r}")
        position += 1
        return token[1]

    def expression() -> tuple:
        node = term()
        while peek() in (("op", "+"), ("op", "-")):
            node = ("binary", take("op"), node, term())
        return node

    def term() -> tuple:
        node = factor()
        while peek() in (("op", "*"), ("op", "/")):
            node = ("binary", take("op"), node, factor())
        return node

    def factor() -> tuple:
        token = peek()
        if token is None:
            raise ExpressionError(f"unexpected end of {text!r}")
        if token == ("op", "-"):
            take("op")
            return ("neg", factor())
        if token == ("op", "("):
            take("op")
            node = expression()
            take("op", ")")
            return node
        if token[0] == "num":
            return ("num", float(take("num")))
        name = take("name")
        if peek() == ("op", "("):
            if name not in FUNCTIONS:
                raise ExpressionError(
                    f"the local cloud evaluates only {', '.join(FUNCTIONS)} in alarm expressions, not {name}"
                )
            take("op")
            args = [expression()]
            while peek() == ("op", ","):
                take("op")
                args.append(expression())
            take("op", ")")
            if (name, len(args)) not in (("FILL", 2), ("ABS", 1)):
                raise ExpressionError(f"{name} takes {'2' if name == 'FILL' else '1'} argument(s) in {text!r}")
            return ("call", name, args)
        if not name[0].islower():
            raise ExpressionError(f"{name!r} is not a metric id (ids start with a lower-case letter)")
        return ("id", name)

    tree = expression()
    if position != len(tokens):
        raise ExpressionError(f"unexpected {tokens[position][1]!r} in {text!r}")
    return tree


def expression_ids(tree: tuple) -> set[str]:
    """The metric ids an expression reads."""
    kind = tree[0]
    if kind == "id":
        return {tree[1]}
    if kind == "binary":
        return expression_ids(tree[2]) | expression_ids(tree[3])
    if kind == "neg":
        return expression_ids(tree[1])
    if kind == "call":
        return set().union(*(expression_ids(arg) for arg in tree[2]))
    return set()


def evaluate_expression(
    tree: tuple, series: Mapping[str, Sequence[PeriodValue | None]], length: int
) -> list[float | None]:
    """The expression's value in each period (None where an input it needs has no datapoint)."""
    kind = tree[0]
    if kind == "num":
        return [tree[1]] * length
    if kind == "id":
        values = series.get(tree[1])
        if values is None:
            raise ExpressionError(f"unknown metric id {tree[1]!r}")
        return [v.value if isinstance(v, PeriodValue) else v for v in list(values)[:length]]
    if kind == "neg":
        return [None if v is None else -v for v in evaluate_expression(tree[1], series, length)]
    if kind == "call":
        inner = evaluate_expression(tree[2][0], series, length)
        if tree[1] == "ABS":
            return [None if v is None else abs(v) for v in inner]
        fill = evaluate_expression(tree[2][1], series, length)
        return [f if v is None else v for v, f in zip(inner, fill, strict=False)]
    left = evaluate_expression(tree[2], series, length)
    right = evaluate_expression(tree[3], series, length)
    out: list[float | None] = []
    for a, b in zip(left, right, strict=False):
        if a is None or b is None or (tree[1] == "/" and b == 0):
            out.append(None)
        else:
            out.append({"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0.0}[tree[1]])
    return out


def _pv(value: float, start: float = 0.0, count: float = 1.0) -> PeriodValue:
    """A period value (for examples and tests)."""
    return PeriodValue(start, value, count)
