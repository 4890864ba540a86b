"""The plain-text formats organisers type agendas, partners and related content in.

One item per line, fields separated by "|", so the forms work without JavaScript and a whole
agenda can be pasted from a seed page. Parsing errors name the line, for display beside the field.
"""

from urllib.parse import urlsplit

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..catalogue.operations import PartnerItem, SectionItem, SpeakerItem

AGENDA_HELP = _l(
    "One section title per line. Under it, lines starting with “>” add a description and lines starting "
    "with “-” add a speaker: “- Name | Role | Organisation | Country” (role, organisation and country optional)."
)
PARTNERS_HELP = _l("One partner per line: “Name | https://address | Description” (address and description optional).")
RELATED_HELP = _l(
    "Items from Content, one per line, in the order the page shows them: the item’s slug (what follows "
    "/content/ in its address) or its exact title; anything after “|” is ignored. Create new items under "
    "Content first. The page then adds the newest items that share a topic with the webinar."
)


class LineFormatError(ValueError):
    """A line that does not follow the documented format; the message says which and why."""


def check_url(url: str) -> str:
    """The URL itself if it is an absolute http(s) address; ValueError otherwise.

    Other schemes (javascript:, data:, file:) are refused because these links end up on public pages.
    """
    url = (url or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        raise ValueError(_("“%(url)s” is not a web address starting with http:// or https://", url=url))
    return url


def _fields(line: str, count: int) -> list[str]:
    parts = [part.strip() for part in line.split("|", count - 1)]
    return parts + [""] * (count - len(parts))


def _lines(text: str):
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if line:
            yield number, line


def parse_agenda(text: str) -> list[SectionItem]:
    sections: list[SectionItem] = []
    for number, line in _lines(text):
        if line[0] in "-*":
            if not sections:
                raise LineFormatError(
                    _("Line %(number)s: a speaker needs a section title on a line above it.", number=number)
                )
            name, role, organisation, country = _fields(line[1:].strip(), 4)
            if not name:
                raise LineFormatError(_("Line %(number)s: the speaker’s name is missing.", number=number))
            sections[-1].speakers.append(SpeakerItem(name, role, organisation, country))
        elif line[0] == ">":
            if not sections:
                raise LineFormatError(
                    _("Line %(number)s: a description needs a section title on a line above it.", number=number)
                )
            current = sections[-1]
            current.description = f"{current.description}\n{line[1:].strip()}".strip()
        else:
            sections.append(SectionItem(title=line))
    return sections


def format_agenda(sections: list[SectionItem]) -> str:
    lines = []
    for section in sections:
        lines.append(section.title)
        lines.extend(f"> {row}" for row in section.description.splitlines() if row.strip())
        for speaker in section.speakers:
            parts = [speaker.name, speaker.role, speaker.organisation, speaker.country]
            while parts and not parts[-1]:
                parts.pop()
            lines.append("- " + " | ".join(parts))
    return "\n".join(lines)


def parse_partners(text: str) -> list[PartnerItem]:
    partners = []
    for number, line in _lines(text):
        name, url, description = _fields(line, 3)
        if not name:
            raise LineFormatError(_("Line %(number)s: the partner’s name is missing.", number=number))
        try:
            url = check_url(url)
        except ValueError as exc:
            raise LineFormatError(_("Line %(number)s: %(error)s.", number=number, error=exc)) from exc
        partners.append(PartnerItem(name, url, description))
    return partners


def format_partners(partners: list[PartnerItem]) -> str:
    return "\n".join(" | ".join(p for p in (x.name, x.url, x.description)).rstrip(" |") for x in partners)


def parse_references(text: str) -> list[tuple[int, str]]:
    """(line number, slug or title) for each line of the related-content field."""
    references = []
    for number, line in _lines(text):
        reference = line.split("|", 1)[0].strip()
        if reference:
            references.append((number, reference))
    return references


def format_references(items) -> str:
    """The related-content field for items already attached: “slug | title” per line."""
    return "\n".join(f"{item.slug} | {item.title}" for item in items)
