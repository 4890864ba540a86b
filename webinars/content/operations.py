"""Changing content items: create, edit, publish, unpublish, attach to webinars.

Every change sets `updated_at` (feeds' ETags) and leaves an event in the audit trail
(webinars/audit.py) saying who changed what, as for webinars. Nothing here commits: the view does, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, insert

from .. import audit as audit_trail
from ..audit import Actor
from ..catalogue.models import FIRST_PAGE_YEAR, LAST_PAGE_YEAR, Topic, Webinar, page_date_in_range
from ..catalogue.operations import slugify
from ..extensions import db
from ..labels import label
from ..timezones import day_date
from . import queries
from .models import TYPE_LABELS, ContentItem, webinar_items

EDITABLE_FIELDS = (
    "type",
    "label",
    "title",
    "slug",
    "published_on",
    "summary",
    "body",
    "external_url",
    "image_url",
    "image_alt",
    "language",
)
# The history is read in the organiser's language, like a webinar's (catalogue/operations.py).
FIELD_LABELS = {
    "type": _l("Type"),
    "label": _l("Series or label"),
    "title": _l("Title"),
    "slug": _l("Slug"),
    "published_on": _l("Date"),
    "summary": _l("Summary"),
    "body": _l("Body"),
    "external_url": _l("External link"),
    "image_url": _l("Image"),
    "image_alt": _l("Image description"),
    "language": _l("Language"),
    "topics": _l("Topics"),
}
LONG_FIELDS = ("summary", "body")


class ItemStateError(ValueError):
    """The item's status does not allow this step (publishing what is already public, say)."""


class ItemDateError(ValueError):
    """The item's date is outside the years a page may carry (FIRST_PAGE_YEAR to LAST_PAGE_YEAR)."""


@dataclass
class ItemFields:
    """Everything an organiser edits, already validated (type in the closed list, URLs http(s))."""

    type: str
    title: str
    slug: str = ""
    label: str = ""
    published_on: date | None = None
    summary: str = ""
    body: str = ""
    external_url: str = ""
    image_url: str = ""
    image_alt: str = ""
    language: str = "en"
    topics: list[Topic] = field(default_factory=list)


def unique_slug(base: str, exclude_id: int | None = None) -> str:
    base = base[:150] or "item"
    slug, number = base, 2
    while queries.slug_taken(slug, exclude_id):
        slug = f"{base[:140]}-{number}"
        number += 1
    return slug


def audit(item: ContentItem, action: str, by: Actor | None, now: datetime, details: str = "") -> None:
    audit_trail.record(action, by, now, details, item_id=item.id)


def _apply(item: ContentItem, fields: ItemFields) -> None:
    if not page_date_in_range(fields.published_on):
        raise ItemDateError(_("Choose a date from %(first)s to %(last)s.", first=FIRST_PAGE_YEAR, last=LAST_PAGE_YEAR))
    item.type = fields.type
    item.label = fields.label
    item.title = fields.title
    item.published_on = fields.published_on
    item.summary = fields.summary
    item.body = fields.body
    item.external_url = fields.external_url
    item.image_url = fields.image_url
    item.image_alt = fields.image_alt
    item.language = fields.language or "en"
    item.topics = list(dict.fromkeys(fields.topics))


def create_item(fields: ItemFields, *, by: Actor | None, now: datetime, publish: bool = False) -> ContentItem:
    """A new item, a draft unless `publish`."""
    item = ContentItem(
        slug=unique_slug(fields.slug or slugify(fields.title, 150)),
        status="draft",
        created_at=now,
        updated_at=now,
    )
    _apply(item, fields)
    db.session.add(item)
    db.session.flush()  # the id, for the audit row
    audit(item, "created", by, now, _("Created as a draft: %(title)s", title=item.title))
    if publish:
        publish_item(item, by=by, now=now)
    return item


def _snapshot(item: ContentItem) -> dict:
    values = {name: getattr(item, name) for name in EDITABLE_FIELDS}
    values["topics"] = tuple(sorted(topic.slug for topic in item.topics))
    return values


def _show(name: str, value) -> str:
    if value in (None, "", ()):
        return _("(none)")
    if isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, date):
        return day_date(value)
    if name == "type":
        return str(TYPE_LABELS.get(value, value))
    if name == "language":
        return label("language", value)
    return str(value)


def describe_changes(changes: dict) -> str:
    """One line per changed field, old → new, in the organiser's language."""
    lines = []
    for name, (old, new) in changes.items():
        field_label = str(FIELD_LABELS.get(name, name))
        if name in LONG_FIELDS:
            lines.append(_("%(field)s changed", field=field_label))
        else:
            old, new = _show(name, old), _show(name, new)
            lines.append(_("%(field)s: %(old)s → %(new)s", field=field_label, old=old, new=new))
    return "\n".join(lines)


def _status_change(old: str, new: str) -> str:
    return _("Status: %(old)s → %(new)s", old=label("content", old), new=label("content", new))


def update_item(item: ContentItem, fields: ItemFields, *, by: Actor | None, now: datetime) -> dict:
    """Apply an edit; returns {field: (old, new)} for what changed ({} when nothing did)."""
    before = _snapshot(item)
    with db.session.no_autoflush:
        _apply(item, fields)
        # The slug is part of public links and feed entries: fixed once the item has been public.
        if item.published_at is None and fields.slug and fields.slug != item.slug:
            item.slug = unique_slug(fields.slug, exclude_id=item.id)
    after = _snapshot(item)
    changes = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    if changes:
        item.updated_at = now
        audit(item, "updated", by, now, describe_changes(changes))
    return changes


def publish_item(item: ContentItem, *, by: Actor | None, now: datetime) -> None:
    """Public from now on: listings, topic pages, feeds, and the next digest if it is new."""
    if item.status == "published":
        raise ItemStateError(_("This item is already published."))
    item.status = "published"
    # The first publication is what the digest counts from: unpublishing and publishing again
    # does not make an item new a second time.
    item.published_at = item.published_at or now
    item.updated_at = now
    audit(item, "published", by, now, _status_change("draft", "published"))


def unpublish_item(item: ContentItem, *, by: Actor | None, now: datetime) -> None:
    """Back to a draft: gone from public pages and feeds, kept with its history."""
    if item.status != "published":
        raise ItemStateError(_("Only a published item can be unpublished."))
    item.status = "draft"
    item.updated_at = now
    audit(item, "unpublished", by, now, _status_change("published", "draft"))


def attach_to_webinar(
    webinar: Webinar, items: list[ContentItem], *, by: Actor | None, now: datetime
) -> tuple[list[str], list[str]] | None:
    """Make `items`, in this order, the webinar's related content. Returns (before, after) titles when
    that changed anything (and records it in the webinar's history), None otherwise."""
    items = list(dict.fromkeys(items))
    current = queries.attached_items(webinar)
    if [item.id for item in current] == [item.id for item in items]:
        return None
    db.session.execute(delete(webinar_items).where(webinar_items.c.webinar_id == webinar.id))
    if items:
        db.session.execute(
            insert(webinar_items),
            [{"webinar_id": webinar.id, "item_id": item.id, "position": n} for n, item in enumerate(items)],
        )
    before, after = [item.title for item in current], [item.title for item in items]
    details = _("Related content: %(items)s", items=" · ".join(after) if after else _("(none)"))
    audit_trail.record("updated", by, now, details, webinar_id=webinar.id)
    return before, after
