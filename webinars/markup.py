"""Markdown written by organisers, rendered to sanitised HTML and to plain text."""

import re

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "em", "h2", "h3", "h4", "hr", "i", "li", "ol",
    "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}}


def markdown_to_html(text: str) -> Markup:
    """Sanitised HTML: raw HTML in the source is escaped, links keep only safe schemes."""
    html = _markdown.render(text or "")
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)


_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|])")
# Escaped characters are parked in the Unicode private use area while the markup is stripped.
_PARK = 0xF0000


def markdown_to_text(text: str) -> str:
    """A readable plain-text version: links become 'label (url)', emphasis marks and escapes are dropped."""
    out = _ESCAPED.sub(lambda m: chr(_PARK + ord(m.group(1))), text or "")
    out = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", out)
    out = re.sub(r"(\*\*|__)(.+?)\1", r"\2", out)
    out = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", out)
    out = re.sub("[\U000f0000-\U000f00ff]", lambda m: chr(ord(m.group(0)) - _PARK), out)
    return out.strip() + "\n"
