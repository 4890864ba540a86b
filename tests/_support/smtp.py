"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records what it receives.

Tests point the app at it, then look at `server.messages`. It can also misbehave on purpose:
refuse chosen recipients with a 5xx (permanent) or 4xx (temporary) code, refuse DATA, or go
down and come back on the same port. SMTPUTF8 (RFC 6531, for addresses such as josé@example.org)
is offered or not, as real servers differ: `offer_smtputf8(True)`; reset() turns it off again.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from .postgres import free_port

Matcher = str | Callable[[str], bool]

_REPLY_TEXT = {
    4: "4.2.0 Temporary failure, try again later",
    5: "5.1.1 Recipient refused",
}


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # raw, as sent after DATA (CRLF line endings)
    message: EmailMessage  # parsed with email.policy.default, line endings turned into \n
    smtputf8: bool = False  # the client sent MAIL FROM with the SMTPUTF8 option

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def body(self, subtype: str = "plain") -> str:
        """The decoded text/<subtype> body ("" if there is none)."""
        part = self.message.get_body(preferencelist=(subtype,))
        return part.get_content() if part is not None else ""

    def attachments(self) -> list[EmailMessage]:
        """Attachment parts, e.g. text/calendar invitations sent as files."""
        return list(self.message.iter_attachments())


@dataclass
class _Rule:
    matches: Callable[[str], bool]
    code: int
    text: str
    remaining: int | None  # None: refuse forever; otherwise how many more times


def _matcher(match: Matcher) -> Callable[[str], bool]:
    if callable(match):
        return match
    wanted = match.lower()
    return lambda address: address.lower() == wanted


@dataclass
class _Handler:
    """aiosmtpd handler; runs in the server's thread, shares state through `owner`."""

    owner: SMTPTestServer
    attempts: list[tuple[str, str, int]] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.owner._decide(self.owner._rcpt_rules, address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self.owner._decide(self.owner._data_rules, ",".join(envelope.rcpt_tos))
        if reply:
            return reply
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):  # only when decode_data=True, which we do not use
            raw = raw.encode()
        # Parse with \n line endings, as a mailbox would, so bodies compare with plain strings. A header
        # block in UTF-8 (RFC 6532, sent with SMTPUTF8) is read as text: the bytes parser would leave
        # surrogates in the addresses. (Such messages of ours have 7-bit bodies.)
        unix = raw.replace(b"\r\n", b"\n")
        if unix.split(b"\n\n", 1)[0].isascii():
            message = email.message_from_bytes(unix, policy=email.policy.default)
        else:
            message = email.message_from_string(unix.decode("utf-8"), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.owner._record(
            ReceivedMessage(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=raw,
                message=message,
                smtputf8=bool(getattr(envelope, "smtp_utf8", False)),
            )
        )
        return "250 Message accepted for delivery"


class SMTPTestServer:
    """Wraps an aiosmtpd Controller; thread-safe for the test thread and the server thread."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port()
        self._lock = threading.Condition()
        self._messages: list[ReceivedMessage] = []
        self._rcpt_rules: list[_Rule] = []
        self._data_rules: list[_Rule] = []
        self._controller: Controller | None = None
        self._smtputf8 = False

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Listen again on the same port (a Controller cannot be restarted, so make a new one)."""
        if self._controller is not None:
            return
        self._wait_until_port_is_free()
        controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            # An explicit name avoids socket.getfqdn(), which can stall on DNS.
            server_hostname="smtp.webinars.test",
            ready_timeout=10,
            enable_SMTPUTF8=self._smtputf8,
        )
        try:
            controller.start()
        except BaseException:
            controller.loop.close()
            raise
        self._controller = controller

    def _wait_until_port_is_free(self, timeout: float = 5.0) -> None:
        # Controller.start() waits its whole ready_timeout when the bind fails, so check first.
        deadline = time.monotonic() + timeout
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((self.host, self.port))
                    return
                except OSError:
                    if time.monotonic() > deadline:
                        raise
            time.sleep(0.05)

    @property
    def smtputf8(self) -> bool:
        """Whether the server offers SMTPUTF8 in its EHLO answer."""
        return self._smtputf8

    def offer_smtputf8(self, enabled: bool = True) -> None:
        """Offer SMTPUTF8 or not (the server restarts on the same port if it was running)."""
        if enabled == self._smtputf8:
            return
        running = self.running
        self.stop()
        self._smtputf8 = enabled
        if running:
            self.start()

    def stop(self) -> None:
        """Stop listening: connections are refused until start() (simulates the server being down)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    # -- what was received ----------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A snapshot of the messages received so far, oldest first."""
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        """Forget received messages."""
        with self._lock:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least `count` messages arrived; AssertionError after `timeout` seconds."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._messages) >= count, timeout=timeout):
                raise AssertionError(f"expected {count} message(s) within {timeout}s, got {len(self._messages)}")
            return list(self._messages)

    def messages_to(self, address: str) -> list[ReceivedMessage]:
        """Received messages whose envelope recipients include `address` (case-insensitive)."""
        wanted = address.lower()
        return [m for m in self.messages if wanted in (r.lower() for r in m.rcpt_tos)]

    # -- misbehaviour ---------------------------------------------------------------------------

    def refuse_rcpt(self, match: Matcher, code: int = 550, text: str | None = None, times: int | None = None) -> None:
        """Answer RCPT TO with `code` for matching addresses.

        `match` is an address (case-insensitive) or a predicate on the address. A 4xx code is a
        temporary refusal; `times` limits how many RCPTs are refused before the address is
        accepted again (None: until reset()).
        """
        self._add_rule(self._rcpt_rules, match, code, text, times)

    def defer_rcpt(self, match: Matcher, code: int = 451, times: int | None = 1) -> None:
        """A temporary (4xx) refusal of RCPT, by default just once."""
        if not 400 <= code < 500:
            raise ValueError("a temporary refusal needs a 4xx code")
        self.refuse_rcpt(match, code=code, times=times)

    def refuse_data(self, code: int = 451, text: str | None = None, times: int | None = 1) -> None:
        """Answer the end of DATA with `code` (the message is not recorded)."""
        self._add_rule(self._data_rules, lambda _: True, code, text, times)

    def reset(self) -> None:
        """Accept everything again, forget messages, offer no SMTPUTF8, and make sure the server is listening."""
        with self._lock:
            self._rcpt_rules.clear()
            self._data_rules.clear()
            self._messages.clear()
        self.offer_smtputf8(False)
        self.start()

    # -- internals ------------------------------------------------------------------------------

    def _add_rule(self, rules: list[_Rule], match: Matcher, code: int, text: str | None, times: int | None) -> None:
        if not 400 <= code < 600:
            raise ValueError(f"refusal code must be 4xx or 5xx, not {code}")
        with self._lock:
            rules.append(_Rule(_matcher(match), code, text or _REPLY_TEXT[code // 100], times))

    def _decide(self, rules: list[_Rule], subject: str) -> str | None:
        with self._lock:
            for rule in rules:
                if rule.remaining == 0 or not rule.matches(subject):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                return f"{rule.code} {rule.text}"
        return None

    def _record(self, message: ReceivedMessage) -> None:
        with self._lock:
            self._messages.append(message)
            self._lock.notify_all()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<SMTPTestServer {self.host}:{self.port} {state}, {len(self.messages)} message(s)>"
