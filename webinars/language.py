"""The reader's language: English or French, chosen per request, remembered, and the catalogues behind it.

A page's language comes from, in order: `?lang=fr` (links that must carry it, such as a calendar
subscription, which calendar apps fetch without cookies), the `lang` cookie set by the EN/FR switch,
the browser's Accept-Language, else English. A command (`flask …`) speaks the organiser's language,
from the environment (LANGUAGE, LC_ALL, LC_MESSAGES, LANG). Emails are written in the recipient's
stored language, whatever the page or command that causes them (see `in_language`).

The French catalogue is `translations/fr/LC_MESSAGES/messages.po`; its compiled `.mo` is a build
output, made by `make install` (`pybabel compile -d translations`) and, when it is missing or older
than the `.po`, by create_app() itself.
"""

import logging
import os
from contextlib import contextmanager
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, current_app, has_request_context, redirect, request
from flask_babel import force_locale, get_locale
from markupsafe import Markup

from .cache import for_the_cache, register_slot, slot

log = logging.getLogger(__name__)

# The languages the service speaks, and the locale each is written in (dates as "Tuesday 12 March 2024").
LOCALES = {"en": "en_GB", "fr": "fr_FR"}
DEFAULT_LANGUAGE = "en"
COOKIE_NAME = "lang"
COOKIE_MAX_AGE = 365 * 24 * 3600

blueprint = Blueprint("language", __name__)


def supported(language: str | None) -> str | None:
    """'fr' for 'fr', 'FR', 'fr-CA' or 'fr_FR'; None for a language the service does not speak."""
    if not isinstance(language, str) or not 0 < len(language) <= 35:
        return None
    code = language.strip().replace("-", "_").split("_", 1)[0].lower()
    return code if code in LOCALES else None


# gettext's order for the language of messages. LC_CTYPE is not one of them: where the machine has
# no fr_FR locale, Python's locale coercion (PEP 538) sets LC_CTYPE=C.UTF-8 in the process itself,
# and Babel's default_locale(), which looks at LC_CTYPE before LANG, would then say English.
LANGUAGE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")
NO_LANGUAGE = frozenset({"c", "posix"})  # the C locale names an encoding, not a language


def _locale_name(value: str) -> str:
    """'fr_FR' for 'fr_FR.UTF-8' or 'fr_FR@euro'."""
    return value.split(".", 1)[0].split("@", 1)[0].strip()


def _from_environment() -> str | None:
    """The organiser's language in a command: the first of LANGUAGE (a list, 'fr:en'), LC_ALL,
    LC_MESSAGES and LANG that names a language; None (English) when that one is not spoken here."""
    for variable in LANGUAGE_VARIABLES:
        value = os.environ.get(variable, "")
        names = value.split(":") if variable == "LANGUAGE" else [value]
        names = [_locale_name(name) for name in names if _locale_name(name).lower() not in NO_LANGUAGE | {""}]
        if names:
            # LANGUAGE falls through its list to a language with a catalogue, as gettext does.
            return next(filter(None, map(supported, names)), None)
    return None


def requested_language() -> str:
    """The language of the current request (or command), as select_locale() decides it."""
    if not has_request_context():
        return _from_environment() or DEFAULT_LANGUAGE
    chosen = supported(request.args.get("lang")) or supported(request.cookies.get(COOKIE_NAME))
    if chosen:
        return chosen
    return request.accept_languages.best_match(list(LOCALES)) or DEFAULT_LANGUAGE


def select_locale() -> str:
    """Flask-Babel's locale selector."""
    return LOCALES[requested_language()]


def current_language() -> str:
    """'en' or 'fr': the language of what is being written now (the page's, or the recipient's
    inside in_language())."""
    try:
        locale = get_locale()
    except RuntimeError:
        locale = None
    return (locale.language if locale else None) or DEFAULT_LANGUAGE


def language_of(stored: str | None) -> str:
    """A stored language, or English for anything the service no longer speaks."""
    return supported(stored) or DEFAULT_LANGUAGE


@contextmanager
def in_language(language: str | None):
    """Write in `language` (a person's stored language) for the duration: templates, gettext, dates,
    zone names. Emails are built inside this, so that a French registrant's reminder is in French
    even when an English organiser's command sends it."""
    with force_locale(LOCALES[language_of(language)]):
        yield


def _safe_next(target: str | None) -> str:
    """A path on this site to go back to; anything else (another host, a scheme, //evil) is the home page."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ch in target for ch in "\r\n\x00"):
        return "/"
    return target


@blueprint.get("/language/<code>")
def switch(code: str):
    """The EN/FR switch: remembers the choice in a cookie and goes back to the page. Nothing changes
    on the server, so a link (GET) is enough."""
    language = supported(code)
    response = redirect(_safe_next(request.args.get("next")), 303)
    if language is not None:
        response.set_cookie(
            COOKIE_NAME,
            language,
            max_age=COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        )
    return response


def switch_links() -> list[dict]:
    """The header's switch: one link per language, in its own language, back to this very page (in a
    page rendered for the cache, a slot filled with each visitor's own address)."""
    back = slot("language-next") if for_the_cache() else _here()
    current = current_language()
    return [
        {
            "code": code,
            "name": Locale.parse(LOCALES[code]).language_name.capitalize(),
            "current": code == current,
            "href": Markup(f"/language/{code}?next=") + back,
        }
        for code in LOCALES
    ]


def _here(visitor: dict | None = None) -> str:
    # The address of this page, query included, as the value of ?next= (no character HTML would escape).
    return _quote(request.full_path.rstrip("?") if request else "/")


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def compile_catalogues(directory: Path) -> None:
    """Compile each `.po` under `directory` whose `.mo` is missing or older, writing it atomically, so
    that a fresh clone (or a deploy that forgot `pybabel compile`) serves every language. A read-only
    tree is logged, not fatal: the site then speaks English until the catalogue is compiled."""
    for po_path in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        try:
            if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                continue
            with po_path.open("rb") as po_file:
                catalog = read_po(po_file, locale=po_path.parent.parent.name)
            temporary = mo_path.with_name(f".{mo_path.name}.{os.getpid()}.tmp")
            with temporary.open("wb") as mo_file:
                write_mo(mo_file, catalog)
            os.replace(temporary, mo_path)  # several workers may compile at once; each rename is whole
        except OSError as error:
            log.warning("could not compile %s (%s); run `pybabel compile -d %s`", po_path, error, directory)


def register(app: Flask, directory: Path) -> None:
    compile_catalogues(directory)
    app.register_blueprint(blueprint)
    register_slot("language-next", _here)

    @app.after_request
    def vary_on_language(response):
        # The same URL answers in English or French depending on these two headers.
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
        return response

    @app.context_processor
    def language_helpers():
        return {"language_links": switch_links, "page_language": current_language()}
