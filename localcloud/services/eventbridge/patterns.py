"""AWS event-pattern matching (EventBridge rules, EventBridge Pipes filters, Lambda FilterCriteria).

What it changes and why: docs/local-cloud-services.md, `localcloud/services/eventbridge/patterns.py`.

    from localcloud.services.eventbridge.patterns import compile_pattern, matches
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ERROR_PREFIX", "EventPattern", "InvalidEventPattern", "compile_pattern", "matches"]

ERROR_PREFIX = "Event pattern is not valid. Reason: "

# Field names AWS's compiler refuses inside ``$or`` (operators, and names it keeps for future ones).
_RESERVED_IN_OR = frozenset(
    {
        "exactly",
        "equals-ignore-case",
        "prefix",
        "suffix",
        "anything-but",
        "exists",
        "wildcard",
        "numeric",
        "cidr",
        "=",
        "<",
        "<=",
        ">",
        ">=",
        "regex",
        "not-wildcard",
        "not-equals-ignore-case",
        "date-after",
        "date-on-or-after",
        "date-before",
        "date-on-or-before",
        "in-date-range",
        "ip-address-in-range",
        "ip-address-not-in-range",
    }
)
_NUMERIC_OPS = ("=", "<", "<=", ">", ">=")
_LOOSE_IPV4 = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_LOOSE_IPV6 = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")


class InvalidEventPattern(ValueError):
    """The pattern is not a valid event pattern; ``str(e)`` is the message EventBridge returns."""

    def __init__(self, reason: str) -> None:
        super().__init__(ERROR_PREFIX + reason)
        self.reason = reason


# ---------------------------------------------------------------------------
# Value helpers: JSON typing as AWS sees it (bool is not a number in JSON)
# ---------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_text(value: Any) -> str:
    """The token text AWS's compiler quotes in some messages (``]`` for an early array end)."""
    return json.dumps(value) if not isinstance(value, str) else value


def _as_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


# ---------------------------------------------------------------------------
# Matchers: one per candidate in a pattern array
# ---------------------------------------------------------------------------

_ABSENT = object()  # what a matcher sees for a field with no leaf value


@dataclass(frozen=True)
class _Matcher:
    """One candidate of a field. ``test`` gets a leaf value, or ``_ABSENT`` for a missing field."""

    describe: str
    test: Callable[[Any], bool]
    matches_absent: bool = False  # only ``{"exists": false}``


def _exact(expected: Any) -> _Matcher:
    if expected is None:
        return _Matcher("null", lambda v: v is None)
    if isinstance(expected, bool):
        return _Matcher(json.dumps(expected), lambda v: isinstance(v, bool) and v is expected)
    if _is_number(expected):

        def number_equals(v: Any) -> bool:
            if not _is_number(v):
                return False
            if isinstance(v, int) and isinstance(expected, int):
                return v == expected  # exact for big integers (account ids, ...)
            return float(v) == float(expected)

        return _Matcher(json.dumps(expected), number_equals)
    ip = _as_ip(expected)
    if ip is not None:
        # AWS compares IP literals as addresses, so "::1" matches "0:0:0:0:0:0:0:1".
        return _Matcher(json.dumps(expected), lambda v: isinstance(v, str) and (v == expected or _as_ip(v) == ip))
    return _Matcher(json.dumps(expected), lambda v: isinstance(v, str) and v == expected)


def _string_test(fn: Callable[[str], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and fn(v)


def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    r"""Compile an AWS wildcard: ``*`` is any run of characters (even none); ``\*`` and ``\\`` escape.

    Positions in the messages are AWS's: byte offsets counting the opening quote of the value.
    """
    raw = pattern.encode("utf-8")
    parts: list[str] = []
    literal = bytearray()
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x2A:  # '*'
            if i + 1 < len(raw) and raw[i + 1] == 0x2A:
                raise InvalidEventPattern(f"Consecutive wildcard characters at pos {i + 1}")
            parts.append(re.escape(literal.decode("utf-8", errors="surrogateescape")))
            literal.clear()
            parts.append(".*")
        elif byte == 0x5C:  # '\'
            if i + 1 < len(raw) and raw[i + 1] in (0x2A, 0x5C):
                literal.append(raw[i + 1])
                i += 2
                continue
            raise InvalidEventPattern(f"Invalid escape character at pos {i + 1}")
        else:
            literal.append(byte)
        i += 1
    parts.append(re.escape(literal.decode("utf-8", errors="surrogateescape")))
    return re.compile("".join(parts), re.DOTALL)


def _wildcard_test(pattern: str) -> Callable[[str], bool]:
    regex = _wildcard_regex(pattern)
    return lambda s: regex.fullmatch(s) is not None


def _cidr_test(cidr: str) -> Callable[[Any], bool]:
    pieces = cidr.split("/")
    if len(pieces) != 2:
        raise InvalidEventPattern("Malformed CIDR, one '/' required")
    try:
        mask = int(pieces[1])
    except ValueError:
        raise InvalidEventPattern("Malformed CIDR, mask bits must be an integer") from None
    if mask < 0:
        raise InvalidEventPattern("Malformed CIDR, mask bits must not be negative")
    base = _as_ip(pieces[0])
    if base is None:
        # AWS: text shaped like an address that does not parse is "Invalid", anything else "Nonstandard".
        looks_like_ip = _LOOSE_IPV4.fullmatch(pieces[0]) or _LOOSE_IPV6.fullmatch(pieces[0])
        raise InvalidEventPattern(f"{'Invalid' if looks_like_ip else 'Nonstandard'} IP address: {pieces[0]}")
    bits = base.max_prefixlen
    if mask > bits - 1:
        raise InvalidEventPattern(f"IPv{base.version} mask bits must be < {bits}")
    # AWS's range runs from the address as written (host bits are not cleared) to the top of the block.
    bottom = int(base)
    top = bottom | ((1 << (bits - mask)) - 1)

    def in_range(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        ip = _as_ip(value)
        return ip is not None and ip.version == base.version and bottom <= int(ip) <= top

    return in_range


def _numeric(spec: Any) -> _Matcher:
    """``{"numeric": [op, n]}`` or a range ``[">"|">=", low, "<"|"<=", high]``; JSON numbers only."""
    if not isinstance(spec, list):
        raise InvalidEventPattern("Value of numeric must be an array.")
    items = list(spec)
    if not items or not isinstance(items[0], str):
        raise InvalidEventPattern(f"Invalid member in numeric match: {_json_text(items[0]) if items else ']'}")
    op = items[0]
    if op not in _NUMERIC_OPS:
        raise InvalidEventPattern(f"Unrecognized numeric range operator: {op}")
    if len(items) < 2 or not _is_number(items[1]):
        raise InvalidEventPattern(f"Value of {'equals' if op == '=' else op} must be numeric")
    first = float(items[1])
    checks: list[Callable[[float], bool]] = [_compare(op, first)]
    if len(items) > 2:
        if op not in (">", ">="):
            raise InvalidEventPattern("Too many elements in numeric expression")
        second_op = items[2]
        if not isinstance(second_op, str):
            raise InvalidEventPattern(f"Bad value in numeric range: {_json_text(second_op)}")
        if second_op not in ("<", "<="):
            raise InvalidEventPattern(f"Bad numeric range operator: {second_op}")
        if len(items) < 4 or not _is_number(items[3]):
            raise InvalidEventPattern(f"Value of {second_op} must be numeric")
        if len(items) > 4:
            raise InvalidEventPattern("Too many terms in numeric range expression")
        second = float(items[3])
        if not first < second:
            raise InvalidEventPattern("Bottom must be less than top")
        checks.append(_compare(second_op, second))

    def test(v: Any) -> bool:
        if not _is_number(v):
            return False  # a string such as "1500" (or DynamoDB's {"N": "1500"}) is not a number
        value = float(v)
        return not math.isnan(value) and all(check(value) for check in checks)

    return _Matcher(f"numeric {spec}", test)


def _compare(op: str, operand: float) -> Callable[[float], bool]:
    return {
        "=": lambda v: v == operand,
        "<": lambda v: v < operand,
        "<=": lambda v: v <= operand,
        ">": lambda v: v > operand,
        ">=": lambda v: v >= operand,
    }[op]


def _anything_but(spec: Any) -> _Matcher:
    """``anything-but``: a value, a list of strings or of numbers, or prefix/suffix/equals-ignore-case/wildcard."""
    if isinstance(spec, dict):
        if not spec:
            raise InvalidEventPattern("Anything-But expression name not found")
        (kind, inner), *rest = spec.items()
        if kind not in ("equals-ignore-case", "prefix", "suffix", "wildcard"):
            raise InvalidEventPattern(f"Unsupported anything-but pattern: {kind}")
        if not (isinstance(inner, (list, str)) or _is_number(inner)):
            raise InvalidEventPattern("Value of anything-but must be an array or single string/number value.")
        values = inner if isinstance(inner, list) else [inner]
        for value in values:
            if not isinstance(value, str):
                raise InvalidEventPattern(
                    {
                        "equals-ignore-case": (
                            "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
                        ),
                        "wildcard": "wildcard match pattern must be a string",
                    }.get(kind, "prefix/suffix match pattern must be a string")
                )
            if kind in ("prefix", "suffix") and value == "":
                raise InvalidEventPattern("Null prefix/suffix not allowed")
        if rest:
            raise InvalidEventPattern("Too many elements in numeric expression")
        if kind == "equals-ignore-case":
            lowered = {v.lower() for v in values}
            excluded: Callable[[str], bool] = lambda s: s.lower() in lowered  # noqa: E731
        elif kind == "prefix":
            excluded = lambda s: any(s.startswith(v) for v in values)  # noqa: E731
        elif kind == "suffix":
            excluded = lambda s: any(s.endswith(v) for v in values)  # noqa: E731
        else:
            tests = [_wildcard_test(v) for v in values]
            excluded = lambda s: any(t(s) for t in tests)  # noqa: E731
        # Only a string can be excluded by these; a present number or null matches (AWS-recorded).
        return _Matcher(f"anything-but {spec}", lambda v: not (isinstance(v, str) and excluded(v)))

    if isinstance(spec, list):
        has_str = has_num = False
        for value in spec:
            if isinstance(value, str):
                has_str = True
            elif _is_number(value):
                has_num = True
            else:
                raise InvalidEventPattern("Inside anything but list, start|null|boolean is not supported.")
        if has_str == has_num:  # mixed, or empty
            raise InvalidEventPattern(
                "Inside anything but list, either all values are number or string, mixed type is not supported"
            )
        banned = [_exact(value) for value in spec]
    elif isinstance(spec, str) or _is_number(spec):
        banned = [_exact(spec)]
    else:
        raise InvalidEventPattern("Value of anything-but must be an array or single string/number value.")
    return _Matcher(f"anything-but {spec}", lambda v: not any(b.test(v) for b in banned))


def _affix(kind: str, spec: Any) -> _Matcher:
    """``prefix``/``suffix``: a string, or ``{"equals-ignore-case": string}``."""
    if isinstance(spec, dict):
        if not spec:
            raise InvalidEventPattern(f"{kind.capitalize()} expression name not found")
        (inner_kind, inner), *rest = spec.items()
        if inner_kind != "equals-ignore-case":
            raise InvalidEventPattern(f"Unsupported {kind} pattern: {inner_kind}")
        if not isinstance(inner, str):
            raise InvalidEventPattern("equals-ignore-case match pattern must be a string")
        if rest:
            raise InvalidEventPattern("Only one key allowed in match expression")
        low = inner.lower()
        if kind == "prefix":
            return _Matcher(f"prefix ~{inner}", _string_test(lambda s: s.lower().startswith(low)))
        return _Matcher(f"suffix ~{inner}", _string_test(lambda s: s.lower().endswith(low)))
    if not isinstance(spec, str):
        raise InvalidEventPattern(f"{kind} match pattern must be a string")
    if kind == "prefix":
        return _Matcher(f"prefix {spec}", _string_test(lambda s: s.startswith(spec)))
    return _Matcher(f"suffix {spec}", _string_test(lambda s: s.endswith(spec)))


def _operator(expression: dict) -> _Matcher:
    """Compile one ``{operator: argument}`` object of a pattern array."""
    if not expression:
        raise InvalidEventPattern("Match expression name not found")
    (kind, arg), *rest = expression.items()
    if kind in ("prefix", "suffix"):
        matcher = _affix(kind, arg)
    elif kind == "numeric":
        matcher = _numeric(arg)
        if rest:
            raise InvalidEventPattern("Too many elements in numeric expression")
    elif kind == "anything-but":
        matcher = _anything_but(arg)
        if rest:
            raise InvalidEventPattern("Too many elements in numeric expression")
    elif kind == "exists":
        if not isinstance(arg, bool):
            raise InvalidEventPattern("exists match pattern must be either true or false.")
        if arg:
            matcher = _Matcher("exists", lambda v: True)
        else:
            matcher = _Matcher("not exists", lambda v: False, matches_absent=True)
    elif kind == "cidr":
        if not isinstance(arg, str):
            raise InvalidEventPattern("prefix match pattern must be a string")  # AWS's text for cidr too
        matcher = _Matcher(f"cidr {arg}", _cidr_test(arg))
    elif kind == "equals-ignore-case":
        if not isinstance(arg, str):
            raise InvalidEventPattern("equals-ignore-case match pattern must be a string")
        low = arg.lower()
        matcher = _Matcher(f"equals-ignore-case {arg}", _string_test(lambda s: s.lower() == low))
    elif kind == "wildcard":
        if not isinstance(arg, str):
            raise InvalidEventPattern("wildcard match pattern must be a string")
        matcher = _Matcher(f"wildcard {arg}", _string_test(_wildcard_test(arg)))
    else:
        raise InvalidEventPattern(f"Unrecognized match type {kind}")
    if rest:
        raise InvalidEventPattern("Only one key allowed in match expression")
    return matcher


def _candidates(values: list) -> tuple[_Matcher, ...]:
    if not values:
        raise InvalidEventPattern("Empty arrays are not allowed")
    out = []
    for value in values:
        if isinstance(value, dict):
            out.append(_operator(value))
        elif value is None or isinstance(value, (str, bool)) or _is_number(value):
            out.append(_exact(value))
        else:
            raise InvalidEventPattern("Match value must be String, number, true, false, or null")
    return tuple(out)


# ---------------------------------------------------------------------------
# Pattern structure: a list of branches (``$or`` forks them), each {path: candidates}
# ---------------------------------------------------------------------------

Branch = dict[str, tuple[_Matcher, ...]]


def _compile_object(obj: Mapping[str, Any], path: str, branches: list[Branch], in_or: bool) -> list[Branch]:
    if not obj:
        raise InvalidEventPattern("Empty objects are not allowed")
    for key, value in obj.items():
        if key == "$or":
            branches = _compile_or(value, path, branches)
            continue
        if in_or and key in _RESERVED_IN_OR:
            raise InvalidEventPattern(f"{key} is Ruler reserved fieldName which cannot be used inside $or.")
        field = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            branches = _compile_object(value, field, branches, in_or)
        elif isinstance(value, list):
            candidates = _candidates(value)
            branches = [{**branch, field: candidates} for branch in branches]
        else:
            raise InvalidEventPattern(f'"{key}" must be an object or an array')
    return branches


def _compile_or(value: Any, path: str, branches: list[Branch]) -> list[Branch]:
    if not isinstance(value, list):
        raise InvalidEventPattern("It must be an Array followed with $or.")
    forked: list[Branch] = []
    for alternative in value:
        if not isinstance(alternative, dict):
            raise InvalidEventPattern("Only JSON object is allowed in array of $or relationship.")
        forked.extend(_compile_object(alternative, path, [dict(b) for b in branches], in_or=True))
    if len(value) < 2:
        raise InvalidEventPattern("There must have at least 2 Objects in $or relationship.")
    return forked


# ---------------------------------------------------------------------------
# Events: flattened to leaves, each remembering which array elements it came from
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Leaf:
    value: Any
    trail: tuple[tuple[int, int], ...]  # (array id, element index) for each array on the way


def _flatten(
    value: Any, path: str, trail: tuple[tuple[int, int], ...], out: dict[str, list[_Leaf]], ids: list[int]
) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _flatten(child, f"{path}.{key}" if path else str(key), trail, out, ids)
    elif isinstance(value, list):
        ids[0] += 1
        array_id = ids[0]
        for index, element in enumerate(value):
            _flatten(element, path, (*trail, (array_id, index)), out, ids)
    else:
        out.setdefault(path, []).append(_Leaf(value, trail))


def _consistent(a: dict[int, int], trail: tuple[tuple[int, int], ...]) -> bool:
    return all(a.get(array_id, index) == index for array_id, index in trail)


def _branch_matches(branch: Branch, leaves: dict[str, list[_Leaf]]) -> bool:
    """Every field of the branch matches, using leaves from the same element of any shared array."""
    options: list[list[_Leaf | None]] = []
    for field, candidates in branch.items():
        present = leaves.get(field, [])
        choices: list[_Leaf | None] = [leaf for leaf in present if any(c.test(leaf.value) for c in candidates)]
        if not present and any(c.matches_absent for c in candidates):
            choices.append(None)  # satisfied by absence: no array constraint
        if not choices:
            return False
        options.append(choices)
    options.sort(key=len)  # most constrained first keeps the search small

    def search(i: int, chosen: dict[int, int]) -> bool:
        if i == len(options):
            return True
        for leaf in options[i]:
            if leaf is None or not leaf.trail:
                if search(i + 1, chosen):
                    return True
            elif _consistent(chosen, leaf.trail) and search(i + 1, {**chosen, **dict(leaf.trail)}):
                return True
        return False

    return search(0, {})


class EventPattern:
    """A compiled, validated event pattern; :meth:`matches` tests an event (a JSON object)."""

    def __init__(self, source: dict, branches: list[Branch]) -> None:
        self.source = source
        self._branches = branches

    def matches(self, event: dict) -> bool:
        """True when the event matches the pattern (any ``$or`` branch, all its fields)."""
        if not isinstance(event, dict):
            return False
        leaves: dict[str, list[_Leaf]] = {}
        _flatten(event, "", (), leaves, [0])
        return any(_branch_matches(branch, leaves) for branch in self._branches)

    def __repr__(self) -> str:
        return f"EventPattern({json.dumps(self.source)})"


def _reject_constant(name: str) -> Any:
    raise InvalidEventPattern(f"Non-standard token '{name}'")


def _parse(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidEventPattern(
            f"Filter is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


@functools.lru_cache(maxsize=512)
def _compile_text(text: str) -> EventPattern:
    pattern = _parse(text)
    if not isinstance(pattern, dict):
        raise InvalidEventPattern("Filter is not an object")
    return EventPattern(pattern, _compile_object(pattern, "", [{}], in_or=False))


def compile_pattern(pattern: str | dict) -> EventPattern:
    """Validate and compile an event pattern (JSON text or the parsed object).

    Raises :class:`InvalidEventPattern` with AWS's message when it is not a valid pattern.
    Compiled patterns are cached by their JSON text.
    """
    if isinstance(pattern, str):
        return _compile_text(pattern)
    if not isinstance(pattern, dict):
        raise InvalidEventPattern("Filter is not an object")
    try:
        text = json.dumps(pattern)
    except (TypeError, ValueError):
        raise InvalidEventPattern("Match value must be String, number, true, false, or null") from None
    return _compile_text(text)


def matches(pattern: str | dict, event: dict) -> bool:
    """``compile_pattern(pattern).matches(event)``; raises InvalidEventPattern for a bad pattern."""
    return compile_pattern(pattern).matches(event)
