"""Outlook .msg messages through extract-msg (over olefile): the same document an .eml gives.

Its From/To/Cc/Date/Subject, then its body (the plain-text one, else the HTML one as text); each attachment
stored by value is a child `mail.msg#report.pdf` read by its own format's parser, and an attached Outlook
message is `mail.msg#forwarded.msg` with its own children. An attachment stored by reference (a link, an
OLE object) is a Failed child `attachment_not_stored`: its bytes are not in the file. A .msg that is not an
OLE compound file, or one cut short, is quarantined `corrupt_file`; an Outlook item that is not a message
(a contact, a task) `unsupported_format`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from email.utils import format_datetime
from io import BytesIO
from typing import Any

from curation.connectors.base import Blob, Context, Failed, Item, Unreadable
from curation.connectors.mail import mail_items
from curation.html_text import html_to_text


def parse_msg(blob: Blob, ctx: Context) -> Iterator[Item]:
    import extract_msg
    from extract_msg.exceptions import ExMsgBaseException
    from extract_msg.msg_classes import MessageBase

    try:  # a BytesIO: olefile would take bytes under 1,536 long for a file name
        message = extract_msg.openMsg(BytesIO(blob.data))
    except (OSError, ExMsgBaseException) as exc:  # olefile's OleFileError is an OSError
        raise Unreadable("corrupt_file", f"not a readable Outlook message ({exc}): save it again") from exc
    try:
        if not isinstance(message, MessageBase):
            kind = message.classType or "unknown"
            raise Unreadable("unsupported_format", f"Outlook item of class {kind!r}: only messages are read")
        try:
            yield from _message(message, ctx)
        except (OSError, ExMsgBaseException) as exc:  # a damaged stream met while reading it
            raise Unreadable("corrupt_file", f"damaged Outlook message: {exc}") from exc
    finally:
        message.close()


def _message(message: Any, ctx: Context) -> Iterator[Item]:
    stamp = message.date
    updated: date | None = stamp.date() if stamp is not None else None
    values = {
        "From": message.sender,
        "To": message.to,
        "Cc": message.cc,
        "Date": format_datetime(stamp) if stamp is not None else None,
        "Subject": message.subject,
    }
    headers = [(h, str(v)) for h, v in values.items() if v]
    body = message.body or ""
    if not body.strip() and message.htmlBody:
        body = html_to_text(message.htmlBody.decode("utf-8", "replace"))[1]
    attachments: list[tuple[str, bytes]] = []
    failed: list[Failed] = []
    for n, attachment in enumerate(message.attachments, 1):
        ctx.check_time(f"attachment {n}")
        name = attachment.longFilename or attachment.name or f"attachment{n}.bin"
        data = attachment.data
        if isinstance(data, bytes):
            attachments.append((name, data))
        elif hasattr(data, "exportBytes"):  # an attached Outlook message
            attachments.append((name if name.lower().endswith(".msg") else f"{name}.msg", data.exportBytes()))
        else:
            detail = f"attachment {n} ({type(attachment).__name__}) is not stored in the file"
            failed.append(Failed(name, "attachment_not_stored", detail))
    yield from mail_items(headers, body, updated, attachments, ctx)
    yield from failed
