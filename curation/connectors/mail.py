"""E-mail: one .eml message, or an mbox archive of them (stdlib email and mailbox).

A message is one document: its From/To/Cc/Date/Subject headers, then its body (the text/plain part, else the
HTML one as text). Each attachment is a child document `mail.eml#report.pdf`, read by the parser of its own
format (a forwarded message too); an mbox's messages are `archive.mbox#1`, `archive.mbox#2` (1-based, in
file order) and their attachments `archive.mbox#2#report.pdf`. Outlook .msg (curation.connectors.outlook)
shares `mail_items`: the same document text and the same children.
"""

from __future__ import annotations

import mailbox
import tempfile
from collections.abc import Iterator
from datetime import date
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from curation.connectors.base import Blob, Context, Failed, Item, Part, Unreadable, too_large
from curation.html_text import html_to_text

HEADERS = ("From", "To", "Cc", "Date", "Subject")


def parse_eml(blob: Blob, ctx: Context) -> Iterator[Item]:
    message = BytesParser(policy=policy.default).parsebytes(blob.data)
    if not any(message.get(h) for h in HEADERS) or message.defects and not message.get_payload():
        raise Unreadable("corrupt_file", "no mail headers: not an RFC 5322 message")
    yield from _message(message, ctx)


def parse_mbox(blob: Blob, ctx: Context) -> Iterator[Item]:
    if not blob.data.startswith(b"From "):
        raise Unreadable("corrupt_file", "an mbox starts with a 'From ' line: this one does not")
    if blob.path is not None:
        yield from _mbox(blob.path, ctx)
        return
    with tempfile.TemporaryDirectory() as tmp:  # an mbox attachment: mailbox reads files only
        path = Path(tmp) / "attached.mbox"
        path.write_bytes(blob.data)
        yield from _mbox(path, ctx)


def _mbox(path: Path, ctx: Context) -> Iterator[Item]:
    box = mailbox.mbox(path, create=False)
    try:
        for number, key in enumerate(box.iterkeys(), 1):
            if number > ctx.limits.max_messages:
                raise too_large("messages", number, ctx.limits.max_messages, "max_messages")
            ctx.check_time(f"message {number}")
            message = BytesParser(policy=policy.default).parsebytes(box.get_bytes(key))
            for item in _message(message, ctx):
                if isinstance(item, Failed):
                    yield Failed(f"{number}#{item.name}", item.reason, item.detail)
                else:
                    item.name = str(number) if item.name is None else f"{number}#{item.name}"
                    item.meta.setdefault("message", str(number))
                    yield item
    finally:
        box.close()


def _message(message: EmailMessage, ctx: Context) -> Iterator[Item]:
    """The message's own part first (headers and body), then its attachments as children."""
    headers = [(h, str(message[h])) for h in HEADERS if message.get(h)]
    body_part = message.get_body(preferencelist=("plain", "html"))
    body = ""
    if body_part is not None:
        body = str(body_part.get_content())
        if body_part.get_content_subtype() == "html":
            body = html_to_text(body)[1]
    updated = None
    try:
        stamp = parsedate_to_datetime(str(message["Date"])) if message.get("Date") else None
        updated = stamp.date() if stamp else None
    except (TypeError, ValueError):
        pass
    attachments: list[tuple[str, bytes]] = []
    for attachment in message.iter_attachments():
        name = attachment.get_filename() or _default_name(attachment)
        if attachment.get_content_type() == "message/rfc822":
            inner = attachment.get_content()  # the forwarded message itself
            data = inner.as_bytes() if isinstance(inner, EmailMessage) else str(inner).encode()
        else:
            payload = attachment.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
        attachments.append((name, data))
    yield from mail_items(headers, body, updated, attachments, ctx)


def mail_items(
    headers: list[tuple[str, str]],
    body: str,
    updated: date | None,
    attachments: list[tuple[str, bytes]],
    ctx: Context,
) -> Iterator[Item]:
    """A message as a document (its headers, then its body) followed by its attachments as children, each
    read by its own format's parser: what an .eml and an Outlook .msg (curation.connectors.outlook) share."""
    subject = next((v for h, v in headers if h == "Subject"), "").strip() or None
    names: set[str] = set()
    listed: list[str] = []
    children: list[Item] = []
    for raw_name, data in attachments:
        name = _unique_name(raw_name, names)
        listed.append(name)
        for item in ctx.children(Blob(name, data), name):
            if isinstance(item, Part):
                item.meta |= {"attachment": name, "attached_to": subject or ""}
                if item.updated is None and updated is not None:
                    item.updated, item.updated_from = updated, "mail_header"
            children.append(item)
    meta = {"format": "email", "attachments": str(len(attachments))}
    if listed:
        meta["attachment_names"] = ", ".join(listed)
    text = "\n".join(f"{h}: {v}" for h, v in headers) + "\n\n" + body.strip()
    yield Part(
        text, title=subject, meta=meta, updated=updated, updated_from="mail_header" if updated else None
    )
    yield from children


def _default_name(part: EmailMessage) -> str:
    return "message.eml" if part.get_content_type() == "message/rfc822" else "attachment.bin"


def _unique_name(name: str, used: set[str]) -> str:
    """An attachment name safe in `FILE#name` (no '#' or '/'), made unique within its message."""
    clean = Path(name.replace("#", "_").replace("\\", "/")).name or "attachment.bin"
    candidate, n = clean, 1
    while candidate in used:
        n += 1
        candidate = f"{Path(clean).stem}~{n}{Path(clean).suffix}"
    used.add(candidate)
    return candidate
