"""The embedded default: messages written to a local outbox folder, no credentials needed.

Email: one RFC 5322 `.eml` file per message under email/, named by outbox id and written
atomically (temporary file, then rename), so a file either exists whole or not at all.
SMS: one JSON line per message appended to sms.jsonl and flushed to disk.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from outreach.transports.base import Message, SendResult


def build_email(message: Message) -> EmailMessage:
    """The RFC 5322 message for an email (text, and HTML as an alternative part)."""
    email = EmailMessage()
    email["From"] = message.sender
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = format_datetime(datetime.now(UTC))
    email["Message-ID"] = make_msgid(f"outbox-{message.outbox_id}", "outreach.local")
    if message.reply_to:
        email["Reply-To"] = message.reply_to
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(message.text)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email


class FilesTransport:
    name = "files"
    reaches_people = False  # a local folder: placeholder links are allowed (the demo)
    can_reconcile = True  # the folder says what was written

    def __init__(self, folder: Path, channel: str):
        self.folder = Path(folder)
        self.channel = channel
        (self.folder / "email").mkdir(parents=True, exist_ok=True)

    def _eml_path(self, message: Message) -> Path:
        return self.folder / "email" / f"{message.outbox_id:010d}.eml"

    def send(self, message: Message) -> SendResult:
        if self.channel == "email":
            return self._write_email(message)
        return self._append_sms(message)

    def _write_email(self, message: Message) -> SendResult:
        path = self._eml_path(message)
        email = build_email(message)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(bytes(email))
        os.replace(temporary, path)
        return SendResult("sent", provider_message_id=path.name)

    def _append_sms(self, message: Message) -> SendResult:
        line = json.dumps({"outbox_id": message.outbox_id, "to": message.to,
                           "from": message.sender, "body": message.text,
                           "at": datetime.now(UTC).isoformat()}, ensure_ascii=False)
        with (self.folder / "sms.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return SendResult("sent", provider_message_id=f"sms-{message.outbox_id}")

    def find_sent(self, message: Message, since: datetime) -> str | None:
        if self.channel == "email":
            path = self._eml_path(message)
            return path.name if path.exists() else None
        journal = self.folder / "sms.jsonl"
        if not journal.exists():
            return None
        with journal.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip() and json.loads(line)["outbox_id"] == message.outbox_id:
                    return f"sms-{message.outbox_id}"
        return None
