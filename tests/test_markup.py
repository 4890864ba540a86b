"""Markdown from organisers: sanitised HTML and a readable plain-text twin."""

from webinars.markup import markdown_to_html, markdown_to_text


def test_html_is_sanitised():
    html = str(markdown_to_html('**ok** <img src=x onerror=alert(1)> [a](javascript:alert(1)) [b](https://x.org "t")'))
    assert "<strong>ok</strong>" in html
    assert "<img" not in html and "&lt;img" in html  # shown as text, inert
    assert 'href="javascript:' not in html
    assert 'href="https://x.org"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_text_drops_markup_and_keeps_escaped_characters_literal():
    source = r"New: Co-operatives \*now\* and a\_b, **bold**, *em*, [the page](https://x.org/p)"
    assert markdown_to_text(source) == "New: Co-operatives *now* and a_b, bold, em, the page (https://x.org/p)\n"
