"""Events that cross from one part to another, as blinker signals (Flask ships blinker).

A part announces what happened; the parts that care connect a receiver when the app is built (their
`init_app`), so the announcing part never imports them (as Indico's modules do). A receiver may
return a value: `values_from()` collects them, which is how the catalogue learns how many seats its
webinar has taken, or what the webinar page's registration panel shows, without importing the
registrations.

Every signal's sender is the object the event is about; the keyword arguments are listed beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from blinker import Namespace, Signal

_signals = Namespace()

# -- the catalogue announces --------------------------------------------------------------------------


@dataclass(frozen=True)
class PagePanel:
    """What a part adds to a page of another part: its template, included at `place`, with `context`
    (names the part owns, merged into the page's context)."""

    place: str  # a webinar page: "hero" (its first screen), "main" (after the summary) or "end" (after the partners)
    template: str
    context: dict = field(default_factory=dict)


webinar_page = _signals.signal("webinar-page")
"""A public webinar page is being rendered. sender: the webinar; viewer_zone (canonical name or None),
now, preview (True for an organiser's preview of the page, which may be a draft's). Receivers return a
PagePanel (related content), a list of them (the registration call to action and form) or None."""

webinar_page_version = _signals.signal("webinar-page-version")
"""What else a cached webinar page depends on. sender: the webinar; now. Receivers return a hashable
(the seats figure the page shows); the page is rendered again when any of them changes."""

webinar_rescheduled = _signals.signal("webinar-rescheduled")
"""A published webinar changed in a way registrants must hear about. sender: the webinar (its SEQUENCE
already raised); changes: {field: (old, new)}, now. Receivers tell registrants and return how many
messages they queued."""

webinar_cancelled = _signals.signal("webinar-cancelled")
"""A published webinar was cancelled. sender: the webinar (SEQUENCE raised); reason, now. Receivers
tell registrants and return how many messages they queued."""

seats_taken = _signals.signal("seats-taken")
"""How many seats of a webinar are held now (a capacity may not go below it). sender: the webinar
(its row locked by the caller); now. Receivers return a number."""

seats_added = _signals.signal("seats-added")
"""A published webinar's capacity grew. sender: the webinar (row locked); now. Receivers give the free
seats to the waiting list and return the ids of the registrations that moved up."""

# -- the registrations announce -----------------------------------------------------------------------

newsletter_requested = _signals.signal("newsletter-requested")
"""Someone ticked "also send me the newsletter" while registering. sender: None; email, name,
timezone, language (of the form), consent_text (as shown), now. The newsletter starts its double
opt-in."""


def values_from(signal: Signal, sender, **kwargs) -> list:
    """What every receiver returned (None left out), in the order they were connected."""
    return [value for _receiver, value in signal.send(sender, **kwargs) if value is not None]


def panels_from(values: list) -> list[PagePanel]:
    """The panels receivers of webinar_page returned: one each, or a list (a part that puts things in
    several places of the page)."""
    panels = []
    for value in values:
        panels.extend(value if isinstance(value, list) else [value])
    return panels


def connect(signal: Signal, receiver: Callable) -> None:
    """Connect a module-level receiver once, however many apps are built (tests build many)."""
    signal.connect(receiver, weak=False)
