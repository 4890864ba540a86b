"""The French catalogue is complete and current: every message in the code and templates has a French
translation, no entry is left over, and the placeholders match.

Messages are extracted here as `make messages` extracts them (babel.cfg, the `_l` keyword, templates/_macros
included), so a new string anywhere fails this test until it is translated.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "translations" / "fr" / "LC_MESSAGES" / "messages.po"


def _extracted() -> dict[tuple[str | None, str], list[str]]:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    found: dict[tuple[str | None, str], list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        keywords=keywords,
        # Like `--ignore-dirs ".* __pycache__"`: templates/_macros is not skipped as private.
        directory_filter=lambda path: not Path(path).name.startswith(".") and Path(path).name != "__pycache__",
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault((context, msgid), []).append(f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def catalogue():
    with CATALOGUE.open("rb") as po:
        return read_po(po, locale="fr")


@pytest.fixture(scope="module")
def extracted():
    return _extracted()


def test_every_message_in_code_and_templates_has_a_french_translation(catalogue, extracted):
    untranslated = []
    for (context, msgid), where in sorted(extracted.items(), key=lambda item: item[1][0]):
        entry = catalogue.get(msgid, context=context)
        strings = [] if entry is None else ([entry.string] if isinstance(entry.string, str) else list(entry.string))
        if entry is None or entry.fuzzy or not strings or not all(strings):
            untranslated.append(f"{where[0]}: {msgid!r}")
    assert not untranslated, "messages without a French translation (run `make messages`, then translate):\n" + (
        "\n".join(untranslated)
    )


def test_the_catalogue_holds_no_message_the_code_no_longer_uses(catalogue, extracted):
    stale = [
        repr(entry.id)
        for entry in catalogue
        if entry.id and (entry.context, entry.id[0] if isinstance(entry.id, tuple) else entry.id) not in extracted
    ]
    assert not stale, "entries no longer in the code or templates (run `make messages`):\n" + "\n".join(stale)


def test_translations_keep_every_placeholder_and_both_plural_forms(catalogue):
    problems = [f"{entry.id!r}: {error}" for entry, errors in catalogue.check() for error in errors]
    assert not problems, "\n".join(problems)
    assert catalogue.num_plurals == 2 and catalogue.plural_expr == "(n > 1)"  # 0 and 1 are singular in French
    for entry in catalogue:
        if entry.id and isinstance(entry.id, tuple):
            assert len(entry.string) == 2 and all(entry.string), entry.id


def test_french_typography_no_space_but_a_no_break_one_before_double_punctuation(catalogue):
    # "Bonjour : …" must not break before the colon at the end of a line.
    careless = [
        entry.id
        for entry in catalogue
        if entry.id
        for text in ([entry.string] if isinstance(entry.string, str) else entry.string)
        if any(f" {mark}" in text for mark in (":", ";", "?", "!", "»")) or "« " in text
    ]
    assert not careless, careless
