"""The embedded default: messages written to a local outbox folder, no credentials needed.

Email: one RFC 5322 `.eml` file per message under email/, named by outbox id and written
atomically (temporary file, fsync, then rename), so a file either exists whole or not at all.
SMS: one JSON line per message appended to sms.jsonl: the whole line or nothing (write, fsync,
and on failure truncate the journal back to where it was). A line torn by a crash mid-write
(kill -9, power loss) is skipped by the reader and never glued to the next line.

A full disk (ENOSPC, or EDQUOT over a quota) is not a crash: nothing half-written stays behind,
the message is a `retry`, and one log line says the folder is full (once per episode, not once
per message; it names the folder, never a recipient).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from outreach.message import Message
from outreach.sending.transports.base import SendResult

log = logging.getLogger("outreach.transports.files")

DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


# RFC 5322 2.1.1 allows header lines of up to 998 characters (78 is a SHOULD). With the default
# 78, Python's folder writes any address-like token it cannot fit as RFC 2047 encoded-words, so
# `List-Unsubscribe: <https://...>, <mailto:...>` left as `=?utf-8?q?=3Cmailto...?=`, which
# RFC 2369 readers (mail clients' unsubscribe buttons) do not decode: the mailto became useless.
EMAIL_POLICY = policy.default.clone(max_line_length=998)


def build_email(message: Message) -> EmailMessage:
    """The RFC 5322 message for an email (text, and HTML as an alternative part)."""
    email = EmailMessage(policy=EMAIL_POLICY)
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


def _write_all(fd: int, data: bytes) -> None:
    """os.write may write less than asked (a disk filling up mid-write): loop until all is
    written or the OS says why not."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class FilesTransport:
    name = "files"
    reaches_people = False  # a local folder: placeholder links are allowed (the demo)
    can_reconcile = True  # the folder says what was written

    def __init__(self, folder: Path, channel: str):
        self.folder = Path(folder)
        self.channel = channel
        (self.folder / "email").mkdir(parents=True, exist_ok=True)
        self._journal_lock = threading.Lock()  # sender threads append one line at a time
        self._full = False  # in a disk-full episode: logged once, until a write succeeds

    def warm_up(self) -> None:
        """Nothing to load ahead: a local folder is ready as soon as it exists."""

    def _eml_path(self, message: Message) -> Path:
        return self.folder / "email" / f"{message.outbox_id:010d}.eml"

    def send(self, message: Message) -> SendResult:
        try:
            if self.channel == "email":
                result = self._write_email(message)
            else:
                result = self._append_sms(message)
        except OSError as error:
            return self._not_written(error)
        if self._full:
            self._full = False
            log.warning("outbox folder %s is writable again", self.folder)
        return result

    def _not_written(self, error: OSError) -> SendResult:
        """Nothing of the message is on disk (the writers undo a partial write): a retry."""
        code = errno.errorcode.get(error.errno or 0, "OSError")
        if error.errno in DISK_FULL:
            why = f"outbox folder full ({code})"
            if not self._full:
                self._full = True
                log.warning("outbox folder %s is full (%s): %s messages are retried later",
                            self.folder, code, self.channel)
        else:
            why = f"outbox folder not writable ({code})"
            log.warning("outbox folder %s: could not write a %s message (%s)", self.folder,
                        self.channel, code)
        return SendResult("retry", error=why)

    def _write_email(self, message: Message) -> SendResult:
        path = self._eml_path(message)
        data = bytes(build_email(message))
        temporary = path.with_suffix(".tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                _write_all(fd, data)
                os.fsync(fd)  # a delayed allocation can still fail here: before the rename
            finally:
                os.close(fd)
            os.replace(temporary, path)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise
        return SendResult("sent", provider_message_id=path.name)

    def _append_sms(self, message: Message) -> SendResult:
        line = json.dumps({"outbox_id": message.outbox_id, "to": message.to,
                           "from": message.sender, "body": message.text,
                           "at": datetime.now(UTC).isoformat()}, ensure_ascii=False) + "\n"
        with self._journal_lock:
            fd = os.open(self.folder / "sms.jsonl", os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                end = os.lseek(fd, 0, os.SEEK_END)
                if end and os.pread(fd, 1, end - 1) != b"\n":
                    line = "\n" + line  # after a torn line: ours starts on a line of its own
                try:
                    _write_all(fd, line.encode("utf-8"))
                    os.fsync(fd)
                except OSError:
                    os.ftruncate(fd, end)  # whole lines or nothing
                    raise
            finally:
                os.close(fd)
        return SendResult("sent", provider_message_id=f"sms-{message.outbox_id}")

    def find_sent(self, message: Message, since: datetime,
                  taken: Callable[[str], bool] | None = None) -> str | None:
        """Our own id decides, not a clock: the .eml named by the outbox id, or a journal line
        carrying it. An unparseable line is an unfinished write (it was never `sent`)."""
        if self.channel == "email":
            path = self._eml_path(message)
            return path.name if path.exists() else None
        journal = self.folder / "sms.jsonl"
        if not journal.exists():
            return None
        with journal.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("outbox_id") == message.outbox_id:
                    return f"sms-{message.outbox_id}"
        return None
