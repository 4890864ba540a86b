"""Building outgoing messages: multipart text + HTML, an optional iMIP calendar part, safe headers.

Every message the service sends is built here, so the rules hold everywhere: a Message-ID at our
own domain, a Date, `Auto-Submitted: auto-generated` (RFC 3834, so auto-responders stay quiet),
and no header value that could smuggle in another header.
"""

import re
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import urlsplit

from flask import current_app

from ..addresses import mailbox_header
from ..database import utcnow

INVITE_FILENAME = "invite.ics"
_METHOD_LINE = re.compile(rb"^METHOD:([A-Za-z-]+)\r?$", re.MULTILINE)


def _check_header(name: str, value: str) -> str:
    # email's own folding does not stop "\r\nBcc: ..." in every Python version; refuse outright.
    if not isinstance(value, str):
        raise ValueError(f"header {name} must be text")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError(f"header {name} may not contain CR, LF or NUL")
    return value


def _cte(body: str) -> str:
    # 7bit only when it is true: ASCII and within SMTP's 998-octet line limit.
    if body.isascii() and all(len(line) <= 998 for line in body.splitlines()):
        return "7bit"
    return "quoted-printable"


def message_id_domain() -> str:
    """The host of BASE_URL: our Message-IDs live at our own domain."""
    host = urlsplit(current_app.config.get("BASE_URL", "")).hostname
    return host or "localhost"


def calendar_method(ics: bytes) -> str:
    """The METHOD inside a VCALENDAR (the first one, at calendar level), upper case."""
    match = _METHOD_LINE.search(ics)
    if not match:
        raise ValueError("calendar has no METHOD property")
    return match.group(1).decode("ascii").upper()


def build_email(
    *,
    to: str,
    subject: str,
    text: str,
    html: str,
    headers: dict[str, str] | None = None,
    calendar: tuple[bytes, str] | None = None,
    sender: str | None = None,
) -> EmailMessage:
    """A multipart/alternative message: text/plain, text/html and, with `calendar=(ics, method)`,
    a `text/calendar; method=...` part as RFC 6047 (iMIP) wants, which makes Gmail and Outlook
    show their calendar card. The MIME method must equal the METHOD inside the file. The same
    calendar then also travels as an `invite.ics` attachment (multipart/mixed around the
    alternatives), for the clients that show no card and only list attachments: the text says
    the invitation is attached, so it must be one."""
    msg = EmailMessage()
    msg["From"] = _check_header("From", mailbox_header(sender or current_app.config["MAIL_DEFAULT_SENDER"]))
    msg["To"] = _check_header("To", to)
    msg["Subject"] = _check_header("Subject", subject)
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=message_id_domain())
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in (headers or {}).items():
        _check_header("header name", name)
        if not name or ":" in name or " " in name:
            raise ValueError(f"invalid header name {name!r}")
        msg[name] = _check_header(name, value)

    # Quoted-printable keeps non-ASCII text 7-bit clean for relays that do not offer 8BITMIME.
    msg.set_content(text, cte=_cte(text))
    msg.add_alternative(html, subtype="html", cte=_cte(html))
    if calendar is not None:
        ics, method = calendar
        method = method.upper()
        inside = calendar_method(ics)
        if inside != method:
            raise ValueError(f"MIME method {method} does not match METHOD:{inside} in the calendar")
        # Decoded text so the part is 8bit/quoted-printable rather than an opaque attachment;
        # clients read the calendar from the alternative part itself (RFC 6047 section 2.4).
        body = ics.decode("utf-8")
        msg.add_alternative(body, subtype="calendar", params={"method": method}, cte=_cte(body))
        # After the alternatives, so that the first text/calendar part (what Gmail reads) keeps the
        # method; application/ics, so that no client takes the file for a second iMIP message.
        msg.add_attachment(ics, maintype="application", subtype="ics", filename=INVITE_FILENAME)
    return msg
