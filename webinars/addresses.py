"""Email addresses: one rule for every form, command and message of the service.

- An address is checked with email-validator (no DNS lookup), which accepts internationalised
  addresses: `josé@example.org`, `太郎@example.jp`, `marie@bücher.example`.
- It is stored in one spelling: the local part as typed (Unicode NFC, as email-validator gives it)
  and the domain lower-cased in its ASCII (IDNA, "punycode") form, which is the form the envelope
  and the headers carry. So `marie@bücher.example` and `marie@xn--bcher-kva.example` are one
  address, stored and sent as the latter; people read the former (`shown_address`, the `address`
  filter of templates).
- A local part with non-ASCII characters can only travel with SMTPUTF8 (RFC 6531): such a message
  is written with UTF-8 headers (RFC 6532) and sent with the SMTPUTF8 option when the server offers
  it. When the server does not, the outbox keeps the message and fails it with a reason the
  organiser sees (outbox/sender.py).
"""

from __future__ import annotations

from email.headerregistry import Address
from email.utils import parseaddr
from urllib.parse import quote

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _


class AddressError(ValueError):
    """Not a usable email address; str() says why, in a sentence for the person who typed it."""


def canonical_address(text: str) -> str:
    """The one spelling of an address (see the module docstring); raises AddressError."""
    if not isinstance(text, str):
        raise AddressError(_("An email address must be text."))
    try:
        result = validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise AddressError(explain(error)) from error
    return f"{result.local_part}@{result.ascii_domain}"


def explain(error: EmailNotValidError) -> str:
    """What is wrong, in the reader's language: email-validator's reasons are English sentences, so the
    common ones are said again here (the rest get a general sentence)."""
    reason = str(error)
    if "must have an @-sign" in reason:
        return _("An email address must have an @-sign, as in name@example.org.")
    if "something before the @-sign" in reason:
        return _("Something is missing before the @-sign.")
    if "something after the @-sign" in reason:
        return _("Something is missing after the @-sign.")
    if "two periods in a row" in reason:
        return _("An email address cannot have two periods in a row.")
    if "too long" in reason:
        return _("This email address is too long.")
    if "after the @-sign" in reason and ("period" in reason or "domain" in reason or "special-use" in reason):
        return _("The part after the @-sign is not a domain that can receive email (e.g. example.org).")
    if "invalid character" in reason or "unsafe character" in reason:
        return _("This email address contains a character that addresses cannot have.")
    return _("This is not a valid email address. Please check it for typos.")


def lookup_key(text: str) -> str:
    """The lower-cased canonical spelling, for looking up an address typed by hand (a sign-in, a
    command); text that is no address is only trimmed and lower-cased, so that it finds nothing."""
    try:
        return canonical_address(text).lower()
    except AddressError:
        return (text or "").strip().lower()


def shown_address(address: str) -> str:
    """The address as people read it (pages, commands): the domain in its own letters,
    marie@bücher.example, though it is stored and sent as marie@xn--bcher-kva.example."""
    local, at, domain = (address or "").rpartition("@")
    if not at or "xn--" not in domain.lower():
        return address
    try:
        return f"{local}@{validate_email(address, check_deliverability=False).domain}"
    except EmailNotValidError:
        return address  # not an address we could have stored: shown as it is


def delivery_address(address: str) -> str:
    """The address as the envelope and headers carry it: the domain in ASCII form. Canonical
    addresses are returned unchanged; this also covers values stored before the rule."""
    local, at, domain = (address or "").rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return canonical_address(address)
    except AddressError:
        return address  # sent as it is: the server's refusal is then the clearest answer


def needs_smtputf8(address: str) -> bool:
    """Whether mail to this address can only travel with SMTPUTF8 (a non-ASCII local part)."""
    return not delivery_address(address).isascii()


def recipient_header(name: str, address: str) -> str:
    """A To: value with the display name quoted or encoded as needed and the address in delivery form.

    Built from its parts because the email package refuses a non-ASCII local part in an addr-spec
    (NonASCIILocalPartDefect) although RFC 6532 allows it.
    """
    local, _at, domain = delivery_address(address).rpartition("@")
    return str(Address(display_name=name or "", username=local, domain=domain))


def mailbox_header(value: str) -> str:
    """A From:-style value ("Name <address>", as in MAIL_DEFAULT_SENDER) with its address in delivery form."""
    name, address = parseaddr(value or "")
    if not address:
        return value
    return recipient_header(name, address)


# RFC 6068: the characters a mailto: local part may carry as they are; everything else is %-encoded
# UTF-8 (non-ASCII letters, '%', '/', '?', '#', '&', '=', ...).
_MAILTO_SAFE = "!$'()*+,;:-._~"


def mailto_uri(address: str) -> str:
    """`mailto:` URI of an address (calendar ORGANIZER and ATTENDEE), per RFC 6068."""
    local, _at, domain = delivery_address(address).rpartition("@")
    return f"mailto:{quote(local, safe=_MAILTO_SAFE)}@{domain}"
