"""Every AWS call a cell makes, recorded through botocore's event system: a table, and the boto3 code.

>>> with recording(lab) as calls:          # doctest: +SKIP
...     ensure_order_queues(lab)

>>> print(calls.summary())                 # doctest: +SKIP
nothing changed: 4 read-only calls

In Jupyter ``calls`` shows the calls; ``calls.code()`` is the boto3 code of those that changed something.

Recording needs no patching: :func:`attach` registers two handlers on a boto3 session before its
clients exist (helpers.session does it for every lab session), and they only record inside a
``recording()`` block of the same thread or task (a context variable), so background samplers are
never mixed in. Secrets are redacted by parameter name; see docs/aws-calls.md for the code rules.
"""

from __future__ import annotations

import copy
import hashlib
import html
import json
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from helpers.core.paths import REPO_ROOT
from helpers.core.target import Target

if TYPE_CHECKING:
    import boto3

__all__ = ["Call", "CallLog", "attach", "is_read_only", "recording", "redact"]

REDACTED = "<redacted>"
BLOB_DIR = REPO_ROOT / "build" / "recorded"
# Parameter names whose values are secrets; pagination and idempotency tokens are not.
_SECRET_KEY = re.compile(
    r"(?i)(secret|password|passphrase|credential|private.?key|access.?key|auth.*value|"
    r"api.?key.?value|(?<!next)(?<!client)(?<!continuation)(?<!pagination)(?<!idempotency)token)"
)
_READ_PREFIXES = (
    "Describe",
    "Get",
    "List",
    "Head",
    "Query",
    "Scan",
    "BatchGet",
    "Lookup",
    "Search",
    "Select",
    "Test",
    "Receive",
    "Filter",
    "Validate",
    "Simulate",
)
_BLOB_MIN_BYTES = 256
_LINE_WIDTH = 100


class LabNames(Protocol):
    """What the code writer needs of a lab (a :class:`helpers.core.lab.Lab`; the session sits below it)."""

    target: Target
    prefix: str
    confirmed: bool

    @property
    def region(self) -> str: ...

    @property
    def account_id(self) -> str: ...

    @property
    def tags(self) -> dict[str, str]: ...


_active: ContextVar[CallLog | None] = ContextVar("orderlab_call_log", default=None)


def is_read_only(operation: str) -> bool:
    """Whether an operation only reads (``DescribeTable``) rather than changes something (``CreateQueue``)."""
    return operation.startswith(_READ_PREFIXES)


def redact(value: Any) -> Any:
    """A copy of ``value`` whose secret-named fields (passwords, keys, tokens) read ``<redacted>``.

    >>> redact({"Name": "a", "AuthParameters": {"ApiKeyAuthParameters": {"ApiKeyValue": "s3cr3t"}}})
    {'Name': 'a', 'AuthParameters': {'ApiKeyAuthParameters': {'ApiKeyValue': '<redacted>'}}}
    >>> redact({"NextToken": "abc"})
    {'NextToken': 'abc'}
    """
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and _SECRET_KEY.search(key) and value[key] not in (None, "")
            else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


@dataclass
class Call:
    """One AWS API call: what was asked (secrets redacted), how it ended, and what came back."""

    service: str
    operation: str
    params: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    duration_ms: float | None = None
    status: int | None = None
    error_code: str | None = None
    response: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def read_only(self) -> bool:
        return is_read_only(self.operation)

    @property
    def changed(self) -> bool:
        """A call that succeeded and was not a read: something in the account is now different."""
        return not self.read_only and self.error_code is None

    @property
    def not_found(self) -> bool:
        """The call was refused because what it named does not exist (yet)."""
        return bool(self.error_code and re.search(r"NotFound|NonExistent|NoSuch|DoesNotExist", self.error_code))

    @property
    def method(self) -> str:
        """The boto3 method name: ``CreateEventSourceMapping`` → ``create_event_source_mapping``."""
        return _snake(self.operation)

    @property
    def resource(self) -> str:
        """The short name of what the call is about (a name, or the tail of a URL or ARN)."""
        for key, value in self.params.items():
            if isinstance(value, str) and key.endswith(("Name", "Arn", "ARN", "Url", "Id", "Identifier", "UUID")):
                return _short(value)
        return ""

    @property
    def outcome(self) -> str:
        if self.error_code:
            return self.error_code
        return "ok" if self.status is None or self.status < 300 else f"HTTP {self.status}"


class CallLog:
    """The calls recorded by one :func:`recording` block, in order."""

    def __init__(self, lab: LabNames | None = None) -> None:
        self.lab = lab
        self.calls: list[Call] = []

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self) -> Iterator[Call]:
        return iter(self.calls)

    @property
    def changes(self) -> list[Call]:
        return [call for call in self.calls if call.changed]

    def operations(self) -> list[str]:
        """The distinct operations, in first-call order: ``['GetQueueUrl', 'CreateQueue', ...]``."""
        return list(dict.fromkeys(call.operation for call in self.calls))

    def summary(self) -> str:
        """One line: how many calls, how many changed something, how many failed."""
        reads = sum(call.read_only for call in self.calls)
        missing = sum(call.read_only and call.not_found for call in self.calls)
        refused = sum(call.error_code is not None and not (call.read_only and call.not_found) for call in self.calls)
        if not self.changes:
            text = f"nothing changed: {reads} read-only call{'s' * (reads != 1)}"
        else:
            text = f"{len(self.calls)} AWS calls: {len(self.changes)} changed something, {reads} read-only"
        if missing:
            text += f" ({missing} looked for something not there yet)"
        return text + (f", {refused} refused" if refused else "")

    def code(self) -> str:
        """Python that repeats the calls that changed something, for a fresh cell with ``lab`` defined.

        Names, the region and the account become ``lab.prefix``, ``lab.region`` and
        ``lab.account_id``; a value an earlier call returned (a stream ARN, an API id) is read from
        that call's response; function code is saved under build/recorded/ and read back from there.
        """
        return _CodeWriter(self).write()

    def table_rows(self) -> list[dict[str, str]]:
        return [
            {
                "#": str(n),
                "service": call.service,
                "operation": call.operation,
                "resource": call.resource,
                "result": call.outcome,
            }
            for n, call in enumerate(self.calls, 1)
        ]

    def __repr__(self) -> str:
        """The summary, each call that changed something, the reads counted by operation."""
        lines = [self.summary()]
        lines += [f"  {call.service} {call.operation} {call.resource}".rstrip() for call in self.changes]
        reads: dict[str, int] = {}
        for call in self.calls:
            if not call.changed:
                reads[call.operation] = reads.get(call.operation, 0) + 1
        if reads:
            lines.append(
                "  and: " + ", ".join(f"{name} ×{count}" if count > 1 else name for name, count in reads.items())
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{name}</th>" for name in ("#", "service", "operation", "resource", "result"))
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(row[key])}</td>" for key in ("#", "service", "operation", "resource", "result")
            )
            + "</tr>"
            for row in self.table_rows()
        )
        code = ""
        if self.changes:
            code = (
                f"<details><summary>boto3 code for the {len(self.changes)} call(s) that changed something "
                f"(runs in a fresh cell of this lab)</summary><pre>{html.escape(self.code())}</pre></details>"
            )
        table = (
            f"<details><summary>all {len(self.calls)} calls</summary><table>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details>"
        )
        return f"<div class='orderlab-calls'><p>{html.escape(self.summary())}</p>{table}{code}</div>"


@contextmanager
def recording(lab: LabNames | None = None) -> Iterator[CallLog]:
    """Record the AWS calls made through attached sessions inside the block (this thread or task only)."""
    log = CallLog(lab)
    token = _active.set(log)
    try:
        yield log
    finally:
        _active.reset(token)


def attach(session: boto3.Session) -> None:
    """Register the recorder on ``session`` (idempotent); only clients created afterwards are recorded."""
    session.events.register("before-parameter-build", _before_call, unique_id="orderlab-calls-before")
    session.events.register("after-call", _after_call, unique_id="orderlab-calls-after")
    session.events.register("after-call-error", _after_call_error, unique_id="orderlab-calls-error")


def _before_call(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    log = _active.get()
    if log is None:
        return
    call = Call(service=model.service_model.service_name, operation=model.name, params=redact(copy.deepcopy(params)))
    context["orderlab_call"] = call
    log.calls.append(call)


def _after_call(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    call: Call | None = context.get("orderlab_call")
    if call is None:
        return
    call.duration_ms = (time.monotonic() - call.started) * 1000
    call.status = getattr(http_response, "status_code", None)
    error = parsed.get("Error") if isinstance(parsed, dict) else None
    if call.status is not None and call.status >= 300:
        call.error_code = str((error or {}).get("Code") or f"HTTP{call.status}")
    else:
        call.response = {key: value for key, value in parsed.items() if key != "ResponseMetadata"}


def _after_call_error(exception: Exception, context: dict[str, Any], **_: Any) -> None:
    call: Call | None = context.get("orderlab_call")
    if call is not None and call.error_code is None:
        call.duration_ms = (time.monotonic() - call.started) * 1000
        call.error_code = type(exception).__name__


def _snake(operation: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", operation).lower()


def _short(value: str) -> str:
    tail = re.split(r"[:/]", value.rstrip("/"))[-1]
    return tail or value


class _Expr:
    """Python source standing for a value in generated code (its repr is the source)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __repr__(self) -> str:
        return self.source


class _Json:
    """A JSON document passed as a string: written as ``json.dumps(<the document>)``."""

    def __init__(self, document: Any) -> None:
        self.document = document


class _CodeWriter:
    """Turns a CallLog's changing calls into runnable boto3 code (see :meth:`CallLog.code`)."""

    def __init__(self, log: CallLog) -> None:
        self.log = log
        self.lab = log.lab
        self.imports: set[str] = set()
        self.bound: dict[int, str] = {}  # index of a call whose response a later call reads -> variable name

    def write(self) -> str:
        calls = self.log.calls
        wanted = {index for index, call in enumerate(calls) if call.changed}
        statements: dict[int, str] = {}
        # latest first: rendering a call may bind an earlier one whose response it reads
        for index in range(len(calls) - 1, -1, -1):
            if index in wanted or index in self.bound:
                args = {key: self._value(value, before=index) for key, value in calls[index].params.items()}
                statements[index] = self._statement(index, args)
        if not statements:
            return ""
        lines = [f"import {name}" if " " not in name else name for name in sorted(self.imports)]
        services = list(dict.fromkeys(calls[index].service for index in sorted(statements)))
        lines += [f'{_client_var(service)} = lab.client("{service}")' for service in services]
        return "\n".join([*lines, "", *(statements[index] for index in sorted(statements))])

    def _statement(self, index: int, args: dict[str, Any]) -> str:
        call = self.log.calls[index]
        target = f"{_client_var(call.service)}.{call.method}"
        variable = self.bound.get(index)
        head = f"{variable} = {target}(" if variable else f"{target}("
        rendered = [f"{key}={_render(value, 4)}" for key, value in args.items()]
        one_line = head + ", ".join(rendered) + ")"
        if len(one_line) <= _LINE_WIDTH and "\n" not in one_line:
            return one_line
        return head + "\n" + "".join(f"    {arg},\n" for arg in rendered) + ")"

    def _value(self, value: Any, *, before: int) -> Any:
        if isinstance(value, bytes):
            return self._blob(value) if len(value) >= _BLOB_MIN_BYTES else value
        if isinstance(value, str):
            return self._string(value, before=before)
        if isinstance(value, Mapping):
            tags = self._tags_expr(value)
            if tags is not None:
                return tags
            return {key: self._value(item, before=before) for key, item in value.items()}
        if isinstance(value, list):
            tags = self._tags_expr(value)
            if tags is not None:
                return tags
            return [self._value(item, before=before) for item in value]
        return value

    def _string(self, value: str, *, before: int) -> Any:
        stripped = value.lstrip()
        if stripped.startswith(("{", "[")):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if isinstance(parsed, (dict, list)):
                self.imports.add("json")
                return _Json(self._value(parsed, before=before))
        returned = self._returned(value, before)
        if returned is not None:
            return returned
        return self._portable(value)

    def _returned(self, value: str, before: int) -> _Expr | None:
        """``rN["Key"]["Sub"]`` when an earlier call returned ``value`` and it is not derivable from names."""
        if not _has_generated_part(value):
            return None
        for index in range(before - 1, -1, -1):
            path = _find(self.log.calls[index].response, value)
            if path is not None:
                variable = self.bound.setdefault(index, f"r{index + 1}")
                return _Expr(variable + "".join(f"[{_render_flat(part)}]" for part in path))
        return None

    def _portable(self, value: str) -> Any:
        """The string with the lab's prefix, region and account written as ``lab.…`` (an f-string if any)."""
        lab = self.lab
        if lab is None:
            return value
        exact = {lab.region: "lab.region"}
        if lab.target.is_local or lab.confirmed:
            exact[lab.account_id] = "lab.account_id"
        if value in exact:
            return _Expr(exact[value])
        pattern = "|".join([rf"(?<![A-Za-z0-9-]){re.escape(lab.prefix)}(?=-)"] + [re.escape(key) for key in exact])
        pieces = re.split(f"({pattern})", value)
        if len(pieces) == 1:
            return value
        out = []
        for n, piece in enumerate(pieces):
            if n % 2:
                out.append("{" + exact.get(piece, "lab.prefix") + "}")
            else:
                out.append(json.dumps(piece)[1:-1].replace("{", "{{").replace("}", "}}"))
        return _Expr('f"' + "".join(out) + '"')

    def _tags_expr(self, value: Any) -> _Expr | None:
        lab = self.lab
        if lab is None or not value:
            return None
        tags = lab.tags
        if isinstance(value, Mapping) and dict(value) == tags:
            return _Expr("lab.tags")
        if isinstance(value, list) and all(isinstance(item, Mapping) for item in value):
            for key_name, value_name in (("Key", "Value"), ("key", "value")):
                pairs = {item.get(key_name): item.get(value_name) for item in value}
                if len(value) == len(tags) and pairs == tags:
                    return _Expr(f'[{{"{key_name}": k, "{value_name}": v}} for k, v in lab.tags.items()]')
        return None

    def _blob(self, data: bytes) -> _Expr:
        """Large bytes (a function's zip) saved once under build/recorded/, read back by the code."""
        digest = hashlib.sha256(data).hexdigest()[:16]
        path = BLOB_DIR / f"{digest}.zip"
        if not path.exists():
            BLOB_DIR.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(path)
        self.imports.add("from pathlib import Path")
        return _Expr(f'Path("{path}").read_bytes()')


def _has_generated_part(value: str) -> bool:
    """A URL, or an ARN or id with a part AWS makes up (a stream's label, a UUID, a random API id)."""
    return bool(re.search(r"^https?://|/stream/\d{4}-|[0-9a-f]{8}-[0-9a-f]{4}-|^[a-z0-9]{10}$", value))


def _find(tree: Any, wanted: str, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    if isinstance(tree, str):
        return path if tree == wanted else None
    if isinstance(tree, Mapping):
        for key, item in tree.items():
            found = _find(item, wanted, (*path, key))
            if found is not None:
                return found
    if isinstance(tree, list):
        for n, item in enumerate(tree):
            found = _find(item, wanted, (*path, n))
            if found is not None:
                return found
    return None


def _client_var(service: str) -> str:
    name = re.sub(r"\W", "_", service)
    return f"{name}_" if name in ("lambda", "logs") else name


def _render(value: Any, indent: int) -> str:
    """Python source for ``value``: one line if it fits, else one item per line."""
    flat = _render_flat(value)
    if isinstance(value, _Json):
        return flat if len(flat) + indent <= _LINE_WIDTH else f"json.dumps({_render(value.document, indent)})"
    if len(flat) + indent <= _LINE_WIDTH or not isinstance(value, (Mapping, list)) or not value:
        return flat
    pad = " " * (indent + 4)
    if isinstance(value, Mapping):
        items = [f"{pad}{_render_flat(key)}: {_render(item, indent + 4)}," for key, item in value.items()]
        return "{\n" + "\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{_render(item, indent + 4)}," for item in value]
    return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"


def _render_flat(value: Any) -> str:
    if isinstance(value, _Json):
        return f"json.dumps({_render_flat(value.document)})"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_render_flat(key)}: {_render_flat(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_render_flat(item) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)
