"""The local cloud's mailbox: where SNS ``email`` / ``email-json`` subscribers' mail lands.

What it changes and why: docs/local-cloud-services.md, `localcloud/services/sns/mailbox.py`.

>>> address_key("Ada@Example.com")     # one mailbox per address, whatever its case
'ada@example.com'
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from localcloud import paths

SUFFIX = ".eml"


def mailbox_dir(port: int) -> Path:
    """The mailbox of the local cloud on ``port``: ``<cloud_dir(port)>/mailbox``.

    >>> mailbox_dir(4599).parts[-2:]
    ('cloud-4599', 'mailbox')
    """
    return paths.cloud_dir(port) / "mailbox"


def address_key(address: str) -> str:
    """The directory name of one address: lower-cased (mail systems ignore case in practice),
    everything but ``A-Z a-z 0-9 @ + - . _`` percent-encoded, so no address escapes the mailbox.

    >>> address_key("Ada.Lovelace+alerts@Example.com")
    'ada.lovelace+alerts@example.com'
    >>> address_key("../../etc/passwd")
    '..%2F..%2Fetc%2Fpasswd'
    """
    key = quote(address.strip().lower(), safe="@+-._")
    if key in ("", ".", ".."):
        raise ValueError(f"{address!r} is not an e-mail address")
    return key


@dataclass(frozen=True)
class MailMessage:
    """One delivered message. ``headers`` holds every header (the last one of a repeated name)."""

    address: str
    subject: str
    date: datetime
    body: str
    headers: dict[str, str] = field(repr=False)
    path: Path = field(repr=False)

    def json(self) -> Any:
        """The body parsed as JSON: what an ``email-json`` subscriber receives.

        >>> MailMessage("a@b.c", "s", datetime.now(UTC), '{"Type": "Notification"}', {},
        ...             Path("x.eml")).json()["Type"]
        'Notification'
        """
        return json.loads(self.body)


def _parse(path: Path, fallback_address: str) -> MailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",)) or message
    body = part.get_content() if isinstance(part, EmailMessage) else ""
    raw_date = message.get("Date")
    try:
        date = parsedate_to_datetime(str(raw_date)) if raw_date else None
    except (TypeError, ValueError):
        date = None
    if date is None:
        date = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    address = parseaddr(str(message.get("To", "")))[1] or fallback_address
    return MailMessage(
        address=address,
        subject=str(message.get("Subject", "")),
        date=date,
        body=body,
        headers={name: str(value) for name, value in message.items()},
        path=path,
    )


class Mailbox:
    """The mailbox of the local cloud on ``port`` (it need not be running to read it)."""

    def __init__(self, port: int) -> None:
        self.port = int(port)
        self.root = mailbox_dir(self.port)

    def __repr__(self) -> str:
        return f"Mailbox(port={self.port}, root={str(self.root)!r})"

    def addresses(self) -> list[str]:
        """Every address that has received mail (as lower-cased keys, decoded), sorted."""
        if not self.root.is_dir():
            return []
        return sorted(unquote(d.name) for d in self.root.iterdir() if d.is_dir())

    def deliver(self, message: EmailMessage, address: str, *, now: datetime | None = None) -> Path:
        """Write ``message`` to ``address``'s folder; returns the new file.

        Used by the local cloud's SNS (``localcloud/services/sns/responses.py``); atomic, so a reader
        never sees half a message.
        """
        folder = self.root / address_key(address)
        folder.mkdir(parents=True, exist_ok=True)
        at = (now or datetime.now(UTC)).astimezone(UTC)
        name = f"{at.strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:12]}{SUFFIX}"
        data = message.as_bytes(policy=email.policy.default)
        fd, temporary = tempfile.mkstemp(prefix=".incoming-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, folder / name)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return folder / name

    def _files(self, address: str | None) -> list[tuple[Path, str]]:
        if address is not None:
            folders = [self.root / address_key(address)]
        elif self.root.is_dir():
            folders = [d for d in self.root.iterdir() if d.is_dir()]
        else:
            folders = []
        found: list[tuple[Path, str]] = []
        for folder in folders:
            if folder.is_dir():
                found.extend((f, unquote(folder.name)) for f in folder.glob(f"*{SUFFIX}") if not f.name.startswith("."))
        # Names start with the delivery time, so sorting by name is delivery order across folders.
        return sorted(found, key=lambda item: item[0].name)

    def messages(self, address: str | None = None) -> list[MailMessage]:
        """Every message (of ``address`` only, when given), oldest first."""
        messages = []
        for path, fallback in self._files(address):
            try:
                messages.append(_parse(path, fallback))
            except FileNotFoundError:  # cleared meanwhile
                continue
        return messages

    def wait_for(
        self,
        predicate: Callable[[MailMessage], bool],
        timeout: float = 10.0,
        *,
        address: str | None = None,
        interval: float = 0.05,
    ) -> MailMessage:
        """The oldest message satisfying ``predicate``, polling until ``timeout`` seconds.

        Raises :class:`TimeoutError` naming the mailbox and what it holds when none arrives.

        >>> Mailbox(4599).wait_for(lambda m: m.subject == "hello", timeout=5)      # doctest: +SKIP
        MailMessage(address='learner@example.com', subject='hello', ...)
        """
        deadline = time.monotonic() + timeout
        while True:
            seen = self.messages(address)
            for message in seen:
                if predicate(message):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                where = f"{address}'s mail" if address else "any mail"
                subjects = [m.subject for m in seen][-5:]
                raise TimeoutError(
                    f"No matching message in {where} after {timeout:.1f}s (mailbox {self.root}; "
                    f"{len(seen)} message(s) there, latest subjects: {subjects})"
                )
            time.sleep(min(interval, remaining))

    def clear(self, address: str | None = None) -> int:
        """Delete the messages (of ``address`` only, when given); returns how many."""
        removed = 0
        for path, _ in self._files(address):
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                continue
        return removed
