"""Newsletter operations: double opt-in sign-up, confirmation, preferences, leaving, export, erasure, campaigns.

Views and commands call these. They change rows and add outbox messages to the session and never
commit, with one exception: `expand_campaign` is a batch job whose whole point is to commit a
checkpoint after each batch, so that a crash resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from flask import current_app, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, exists, func, insert, literal, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from ..addresses import lookup_key
from ..catalogue.models import Topic, Webinar
from ..database import MAX_ID, UTCDateTime, address_condition, same_address, utcnow
from ..extensions import db
from ..forms import control_character_problem, is_one_line
from ..language import DEFAULT_LANGUAGE, LOCALES, in_language, language_of
from ..markup import markdown_to_html, markdown_to_text
from ..outbox.messages import build_email
from ..outbox.models import OutboxMessage, Suppression
from ..outbox.operations import enqueue_intent, message_bytes
from ..ratelimit import check
from ..timezones import canonical_zone_or_none, long_date, to_zone, zone_times_line
from ..tokens import BadToken, make_token, read_token
from ..urls import external_url
from .models import Campaign, ConsentEvent, Subscriber, campaign_topics, subscriber_topics

# Lazy: shown on the sign-up page in the reader's language; store str(CONSENT_TEXT), the text as shown.
CONSENT_TEXT = _l(
    "I would like to receive the newsletter: announcements of upcoming webinars and related material. "
    "I can change my topics or unsubscribe at any time with the link in every email."
)

CONFIRM_PURPOSE = "newsletter-confirm"
# One token serves the preferences page, the unsubscribe page and the RFC 8058 one-click POST.
MANAGE_PURPOSE = "newsletter-manage"
CONFIRM_LINK_LIFETIME = timedelta(days=7)

# Sign-up attempts per client (NEWSLETTER_SIGNUPS_PER_CLIENT) in an hour. Emails per address are
# capped with every other flow's, by outbox.operations.enqueue_unsolicited.
LIMIT_WINDOW = timedelta(hours=1)
CLIENT_BUCKET = "newsletter-client"


class TooManyRequests(Exception):
    """This client has asked for too many sign-ups lately; `retry_after` seconds until it may again."""

    def __init__(self, retry_after: int = 0):
        super().__init__(retry_after)
        self.retry_after = retry_after


class LinkInvalid(Exception):
    """A forged, garbled or superseded link, or one whose subscriber no longer exists."""


class LinkExpired(LinkInvalid):
    """A confirmation link older than CONFIRM_LINK_LIFETIME."""


# -- addresses and links ------------------------------------------------------------------------


def normalise_email(email: str) -> str:
    """One spelling per address (the service's rule, lower-cased), so that the unique index sees
    re-submissions as the same person, whichever form of the domain was typed."""
    return lookup_key(email)


def manage_token(subscriber: Subscriber) -> str:
    return make_token(MANAGE_PURPOSE, {"s": subscriber.id, "v": subscriber.token_version})


def confirm_token(subscriber: Subscriber, now: datetime) -> str:
    # The issue time travels inside the token so that expiry follows our clock (one place to patch).
    return make_token(CONFIRM_PURPOSE, {"s": subscriber.id, "v": subscriber.token_version, "t": int(now.timestamp())})


def unsubscribe_url(token: str) -> str:
    return external_url("newsletter.unsubscribe", token=token)


def preferences_url(token: str) -> str:
    return external_url("newsletter.preferences", token=token)


def list_unsubscribe_headers(token: str) -> dict[str, str]:
    """RFC 8058 headers: mail clients show an unsubscribe button that POSTs to this URL."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(token)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def _payload(purpose: str, token: str) -> dict:
    try:
        payload = read_token(purpose, token)
    except BadToken as error:
        raise LinkInvalid(str(error)) from error
    if not isinstance(payload, dict):
        raise LinkInvalid("unexpected payload")
    for key in ("s", "v"):
        value = payload.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
            raise LinkInvalid("unexpected payload")
    return payload


def _subscriber_for(payload: dict) -> Subscriber:
    subscriber = db.session.get(Subscriber, payload["s"])
    # Links mailed in any earlier membership of this address stay valid: someone who left and came
    # back must still be able to leave from an old newsletter. (Versions were raised on coming back
    # until that was found to break those links; a version above the stored one was never issued.)
    if subscriber is None or payload["v"] > subscriber.token_version:
        raise LinkInvalid("no such subscriber")
    return subscriber


def subscriber_from_confirm_token(token: str, *, now: datetime | None = None) -> Subscriber:
    """The subscriber a confirmation link belongs to; LinkExpired only if there is still something to confirm."""
    now = now or utcnow()
    payload = _payload(CONFIRM_PURPOSE, token)
    subscriber = _subscriber_for(payload)
    issued = payload.get("t")
    if subscriber.status == "pending" and (
        not isinstance(issued, int) or now.timestamp() - issued > CONFIRM_LINK_LIFETIME.total_seconds()
    ):
        raise LinkExpired("confirmation link expired")
    return subscriber


def subscriber_from_manage_token(token: str) -> Subscriber:
    """The subscriber a preferences or unsubscribe link belongs to (these links do not expire)."""
    return _subscriber_for(_payload(MANAGE_PURPOSE, token))


# -- sign-up, confirmation, preferences, leaving ----------------------------------------------


def _topics_from(topics: Iterable[Topic | str]) -> list[Topic]:
    wanted = list(topics or [])
    objects = [t for t in wanted if isinstance(t, Topic)]
    slugs = [t for t in wanted if isinstance(t, str)]
    if slugs:
        objects += db.session.scalars(select(Topic).where(Topic.slug.in_(slugs))).all()
    unique = {t.id: t for t in objects}
    return list(unique.values())


def _record(subscriber: Subscriber, action: str, source: str, now: datetime, consent_text: str = "", detail: str = ""):
    subscriber.consent_events.append(
        ConsentEvent(action=action, source=source, at=now, consent_text=str(consent_text or ""), detail=detail)
    )


def _find(email: str) -> Subscriber | None:
    return db.session.scalar(select(Subscriber).where(Subscriber.email == email))


def request_subscription(
    email: str,
    name: str,
    topics: Iterable[Topic | str],
    *,
    source: str,
    consent_text: str,
    client_key: str | None = None,
    timezone: str | None = None,
    now: datetime | None = None,
    language: str = "en",
) -> None:
    """Start (or restart) double opt-in for an address; the caller's answer must not depend on its state.
    `language` (the form's) is the language of the emails: kept for someone already subscribed.

    `timezone` (the visitor's or registrant's zone, when known) is what the digest shows times in.

    New, pending and unsubscribed addresses get a confirmation email (someone who left comes back
    only by confirming again); an already subscribed address is never downgraded and gets a note
    with its preferences link instead. Emails per address are capped silently; too many attempts
    from one client raise TooManyRequests, which says nothing about any address.
    """
    now = now or utcnow()
    email = normalise_email(email)
    client_limit = int(current_app.config["NEWSLETTER_SIGNUPS_PER_CLIENT"])
    if client_key:
        verdict = check(CLIENT_BUCKET, client_key, client_limit, LIMIT_WINDOW, now=now)
        if not verdict.allowed:
            raise TooManyRequests(verdict.retry_after)
    chosen = _topics_from(topics)
    subscriber = _find(email)
    if subscriber is None:
        subscriber = Subscriber(
            email=email, name=(name or "").strip(), status="pending", created_at=now, language=language_of(language)
        )
        subscriber.topics = chosen
        try:
            # A savepoint: two simultaneous first sign-ups for one address must not end in a 500.
            with db.session.begin_nested():
                db.session.add(subscriber)
                db.session.flush()
        except IntegrityError:
            subscriber = _find(email)
            if subscriber is None:
                raise
    if subscriber.status == "subscribed":
        # Nothing changes from an unauthenticated form: topics belong to the owner's preferences link.
        _record(subscriber, "requested", source, now, consent_text, detail="already subscribed; nothing changed")
        kind = "newsletter_already"
    else:
        if subscriber.status == "unsubscribed":
            subscriber.status = "pending"
        if name and name.strip():
            subscriber.name = name.strip()
        if canonical_zone_or_none(timezone):
            subscriber.timezone = canonical_zone_or_none(timezone)  # one spelling (Asia/Calcutta: Asia/Kolkata)
        subscriber.topics = chosen
        subscriber.language = language_of(language)  # confirming again, in the language of this form
        _record(subscriber, "requested", source, now, consent_text)
        kind = "newsletter_confirm"
    db.session.flush()
    # Capped per address with every other unconfirmed flow, silently: the same answer either way. The
    # moment of the request is frozen: the confirmation link's lifetime runs from it. (The language is
    # the subscriber's own, stored.)
    payload = {"s": subscriber.id, "t": int(now.timestamp())}
    enqueue_intent(kind, subscriber.email, payload, unsolicited=True, now=now)


ALREADY_SUBSCRIBED_SUBJECT = _l("You are already subscribed")
CONFIRM_SUBJECT = _l("Please confirm your newsletter subscription")
# The two messages of the sign-up, built by the mail worker (newsletter/__init__.py registers them).
_SIGNUP_MESSAGES = {
    "newsletter_confirm": ("confirm", CONFIRM_SUBJECT),
    "newsletter_already": ("already_subscribed", ALREADY_SUBSCRIBED_SUBJECT),
}


def render_signup_message(row) -> bytes | None:
    """The confirmation request, or the note to someone already subscribed, in the subscriber's
    language; None when the subscriber is gone (erased at their request). The confirmation request
    goes to someone who has not subscribed yet: it has no unsubscribe link nor List-Unsubscribe
    header (there is nothing to leave); the other message has both."""
    subscriber = db.session.get(Subscriber, row.payload["s"])
    if subscriber is None:
        return None
    template, subject = _SIGNUP_MESSAGES[row.kind]
    issued = datetime.fromtimestamp(row.payload["t"], UTC)
    with in_language(subscriber.language):
        token = manage_token(subscriber)
        context = {
            "subscriber": subscriber,
            "confirm_url": external_url("newsletter.confirm", token=confirm_token(subscriber, issued)),
            "preferences_url": preferences_url(token),
            "unsubscribe_url": unsubscribe_url(token),
            "signup_url": external_url("newsletter.signup"),
            "link_days": CONFIRM_LINK_LIFETIME.days,
            "site_name": current_app.config.get("SITE_NAME", ""),
        }
        message = build_email(
            to=row.to_address,
            subject=str(subject),
            text=render_template(f"emails/newsletter/{template}.txt", **context),
            html=render_template(f"emails/newsletter/{template}.html", **context),
            headers=None if template == "confirm" else list_unsubscribe_headers(token),
        )
    return message_bytes(message)


def on_newsletter_requested(
    _sender, *, email: str, name: str, timezone: str, language: str, consent_text: str, now: datetime
):
    """Someone ticked the newsletter box while registering (signals.newsletter_requested)."""
    request_subscription(
        email,
        name,
        [],
        source="registration_form",
        consent_text=consent_text,
        timezone=timezone,
        language=language,
        now=now,
    )


def confirm(subscriber: Subscriber, *, source: str = "confirmation_link", now: datetime | None = None) -> bool:
    """Pending becomes subscribed; True if something changed. Confirming twice is harmless."""
    if subscriber.status != "pending":
        return False
    now = now or utcnow()
    subscriber.status = "subscribed"
    subscriber.confirmed_at = now
    subscriber.unsubscribed_at = None
    _record(subscriber, "confirmed", source, now)
    return True


def update_preferences(
    subscriber: Subscriber, topics: Iterable[Topic | str], *, source: str = "preferences_page", now=None
) -> None:
    """Replace the subscriber's topics (no topic at all means: everything we send)."""
    now = now or utcnow()
    chosen = _topics_from(topics)
    subscriber.topics = chosen
    _record(subscriber, "preferences", source, now, detail="topics: " + ", ".join(sorted(t.slug for t in chosen)))


def unsubscribe(subscriber: Subscriber, *, source: str, now: datetime | None = None) -> bool:
    """Leave at once; True if something changed. Idempotent: leaving twice records nothing more."""
    if subscriber.status == "unsubscribed":
        return False
    now = now or utcnow()
    subscriber.status = "unsubscribed"
    subscriber.unsubscribed_at = now
    _record(subscriber, "unsubscribed", source, now)
    return True


# -- personal data ------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _for_address(model, email: str):
    candidates = db.session.scalars(select(model).where(address_condition(model.email, email)))
    return [row for row in candidates if same_address(row.email, email)]


def subscriber_of(email: str) -> Subscriber | None:
    """The subscriber with this address, however it is spelt (for requests about personal data)."""
    found = _for_address(Subscriber, email)
    return found[0] if found else None


def export_subscriber(email: str) -> dict:
    """What the newsletter holds about one address: the subscription with its consent history (the
    messages and a suppression after a hard bounce are the outbox's, see webinars/privacy)."""
    subscriber = subscriber_of(email)
    data: dict = {"subscriber": None}
    if subscriber is not None:
        data["subscriber"] = {
            "email": subscriber.email,
            "name": subscriber.name,
            "language": subscriber.language,
            "status": subscriber.status,
            "timezone": subscriber.timezone,
            "token_version": subscriber.token_version,  # links mailed before a change of it no longer work
            "created_at": _iso(subscriber.created_at),
            "confirmed_at": _iso(subscriber.confirmed_at),
            "unsubscribed_at": _iso(subscriber.unsubscribed_at),
            "topics": [t.slug for t in subscriber.topics],
            "consent_events": [
                {
                    "at": _iso(e.at),
                    "action": e.action,
                    "source": e.source,
                    "consent_text": e.consent_text,
                    "detail": e.detail,
                }
                for e in subscriber.consent_events
            ],
        }
    return data


def erase_subscriber(email: str) -> dict:
    """Remove the subscription of an address however it is spelt (its consent history and topic choices
    go with it); returns what was removed. The exception to "states replace deletes": erasure on
    request. Links already mailed stop working with the row."""
    removed = {"subscriber": 0, "consent_events": 0}
    subscriber = subscriber_of(email)
    if subscriber is not None:
        removed["subscriber"], removed["consent_events"] = 1, len(subscriber.consent_events)
        db.session.delete(subscriber)  # consent events and topic choices go with it (cascade)
    db.session.flush()
    return removed


def campaign_subjects(ids) -> dict[int, str]:
    ids = {campaign_id for campaign_id in ids if campaign_id is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(Campaign.id, Campaign.subject).where(Campaign.id.in_(ids))).all())


# -- campaigns ----------------------------------------------------------------------------------


def create_campaign(
    subject: str,
    body_markdown: str,
    topic_slugs: Iterable[str],
    *,
    created_by: str,
    webinar: Webinar | None = None,
    draft: bool = False,
    needs_approval: bool = False,
    translations: dict[str, tuple[str, str]] | None = None,
) -> Campaign:
    """A campaign ready to expand (or a `draft`, to try and schedule first; `needs_approval`: an owner
    approves it before it can leave); `translations`: {language: (subject, Markdown body)}, the versions
    subscribers of those languages get. Unknown topics or a subject that cannot be a header raise ValueError."""
    subject = _checked_subject(subject)
    body_markdown = _checked_body(body_markdown)
    versions = _versions(translations)
    slugs = sorted(set(topic_slugs or []))
    topics = list(db.session.scalars(select(Topic).where(Topic.slug.in_(slugs)))) if slugs else []
    missing = set(slugs) - {t.slug for t in topics}
    if missing:
        raise ValueError(_("Unknown topic: %(topics)s", topics=", ".join(sorted(missing))))
    campaign = Campaign(
        subject=subject,
        body_markdown=body_markdown or "",
        body_html=str(markdown_to_html(body_markdown or "")),
        body_text=markdown_to_text(body_markdown or ""),
        webinar=webinar,
        created_by=created_by,
        status="draft" if draft else "expanding",
        needs_approval=needs_approval,
        translations=versions,
        created_at=utcnow(),
    )
    campaign.started_at = None if draft else campaign.created_at
    campaign.topics = topics
    db.session.add(campaign)
    db.session.flush()
    return campaign


def _checked_subject(subject: str) -> str:
    subject = (subject or "").strip()
    # Every line break counts (U+2028, U+2029 and NEL too): the subject becomes a mail header.
    if not subject or len(subject) > 300 or not is_one_line(subject):
        raise ValueError(_("The subject must be one line of at most 300 characters."))
    return subject


def _checked_body(body_markdown: str) -> str:
    if problem := control_character_problem(body_markdown or ""):
        raise ValueError(problem)  # the command's body file, checked as the form checks its textarea
    return body_markdown or ""


def _versions(translations: dict[str, tuple[str, str]] | None) -> dict | None:
    """The stored form of a campaign's translations (bodies rendered once, here), or None for none."""
    versions = {}
    for language, (subject, body_markdown) in sorted((translations or {}).items()):
        if language not in LOCALES or language == DEFAULT_LANGUAGE:
            raise ValueError(_("Unknown language: %(language)s", language=language))
        if not (subject or "").strip() and not (body_markdown or "").strip():
            continue  # an empty translation is no translation
        body_markdown = _checked_body(body_markdown)
        versions[language] = {
            "subject": _checked_subject(subject),
            "body_markdown": body_markdown,
            "body_html": str(markdown_to_html(body_markdown or "")),
            "body_text": markdown_to_text(body_markdown or ""),
        }
    return versions or None


class CampaignStateError(ValueError):
    """The campaign's state does not allow this step (the message says why, for the organiser)."""


def _topics_of(slugs: Iterable[str]) -> list[Topic]:
    slugs = sorted(set(slugs or []))
    topics = list(db.session.scalars(select(Topic).where(Topic.slug.in_(slugs)))) if slugs else []
    missing = set(slugs) - {t.slug for t in topics}
    if missing:
        raise ValueError(_("Unknown topic: %(topics)s", topics=", ".join(sorted(missing))))
    return topics


def update_draft(
    campaign: Campaign,
    subject: str,
    body_markdown: str,
    topic_slugs: Iterable[str],
    translations: dict[str, tuple[str, str]] | None = None,
) -> bool:
    """Change a draft (`translations` as for create_campaign: what is not given goes); True when
    something changed. An approval does not cover the new text: it goes."""
    if campaign.status != "draft":
        raise CampaignStateError(_("Only a draft can be changed."))
    subject = _checked_subject(subject)
    body_markdown = _checked_body(body_markdown)
    versions = _versions(translations)
    topics = _topics_of(topic_slugs)
    before = (campaign.subject, campaign.body_markdown, sorted(t.slug for t in campaign.topics), campaign.translations)
    if before == (subject, body_markdown or "", sorted(t.slug for t in topics), versions):
        return False
    campaign.subject = subject
    campaign.translations = versions
    campaign.body_markdown = body_markdown or ""
    campaign.body_html = str(markdown_to_html(body_markdown or ""))
    campaign.body_text = markdown_to_text(body_markdown or "")
    campaign.topics = topics
    campaign.approved_by = campaign.approved_at = None
    return True


def approve_campaign(campaign: Campaign, *, by: str, now: datetime) -> None:
    """An owner approves an editor's draft: it may now be sent or scheduled."""
    if campaign.status != "draft":
        raise CampaignStateError(_("Only a draft is approved."))
    campaign.approved_by, campaign.approved_at = by[:254], now


def _ready(campaign: Campaign) -> None:
    if campaign.status != "draft":
        raise CampaignStateError(_("This campaign is no longer a draft."))
    if not campaign.approved:
        raise CampaignStateError(_("An owner must approve this campaign before it is sent."))


def send_now(campaign: Campaign, *, now: datetime) -> None:
    """Start an approved draft now (the caller commits, then expand_campaign queues its recipients)."""
    _ready(campaign)
    campaign.status, campaign.started_at = "expanding", now


def schedule_campaign(campaign: Campaign, at: datetime, zone: str, *, now: datetime) -> None:
    """Send an approved draft at `at` (aware, UTC), which the organiser entered in `zone`: the mail
    worker starts it then (start_due_campaigns)."""
    _ready(campaign)
    if at <= now:
        raise CampaignStateError(_("Choose a time in the future."))
    campaign.status, campaign.scheduled_for, campaign.scheduled_zone = "scheduled", at, zone


def cancel_schedule(campaign: Campaign) -> bool:
    """A scheduled campaign that has not started goes back to being a draft; False once it started (the
    mail worker claimed it a moment ago: nothing to cancel)."""
    result = db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == "scheduled")
        .values(status="draft", scheduled_for=None, scheduled_zone=None)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(campaign)
    return bool(result.rowcount)


def start_due_campaigns(now: datetime | None = None) -> list[int]:
    """The mail worker's idle hook: start every scheduled campaign whose time has come, and queue its
    recipients. Each campaign is claimed by one conditional UPDATE (scheduled -> expanding), committed
    before anything else, so that several workers start it once: the one whose UPDATE changed the row.
    Returns the ids this worker started."""
    now = now or utcnow()
    due = list(
        db.session.scalars(
            select(Campaign.id)
            .where(Campaign.status == "scheduled", Campaign.scheduled_for <= now)
            .order_by(Campaign.id)
        )
    )
    started = []
    for campaign_id in due:
        claimed = db.session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.status == "scheduled")
            .values(status="expanding", started_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        if claimed:
            started.append(campaign_id)
            campaign = db.session.get(Campaign, campaign_id, populate_existing=True)
            expand_campaign(campaign)
    return started


def queue_campaign_test(campaign: Campaign, *, to: str, language: str, now: datetime):
    """The campaign as a subscriber will get it, to `to` (the organiser trying it), its subject marked as a test."""
    return enqueue_intent("campaign_test", to, {"c": campaign.id, "lang": language}, now=now)


def _audience(wanted_topics):
    """Who a campaign about `wanted_topics` (a SELECT of topic ids) reaches: confirmed subscribers
    whose address is not suppressed and who follow one of those topics, or chose no topic at all
    ("choose none to hear about everything"); everyone confirmed when the campaign has no topic.
    The one definition behind both the count shown before sending and the expansion."""
    s = Subscriber.__table__
    chose = select(subscriber_topics.c.topic_id).where(subscriber_topics.c.subscriber_id == s.c.id)
    return and_(
        s.c.status == "subscribed",
        ~exists(select(Suppression.id).where(Suppression.email == s.c.email)),
        or_(
            ~exists(wanted_topics), ~exists(chose), exists(chose.where(subscriber_topics.c.topic_id.in_(wanted_topics)))
        ),
    )


def count_recipients(topic_slugs: Iterable[str]) -> int:
    """How many subscribers a campaign about these topics would reach now."""
    wanted = select(Topic.id).where(Topic.slug.in_(sorted(set(topic_slugs or []))))
    return db.session.scalar(select(func.count()).select_from(Subscriber.__table__).where(_audience(wanted)))


def _recipients_between(campaign_id: int, after_id: int, through_id: int, now: datetime):
    """SELECT of (kind, to_address, campaign_id, subscriber_id, status, ...) for one id range."""
    s = Subscriber.__table__
    wanted_topics = select(campaign_topics.c.topic_id).where(campaign_topics.c.campaign_id == campaign_id)
    when = literal(now, UTCDateTime)
    return (
        select(
            literal("campaign"),
            s.c.email,
            literal(campaign_id),
            s.c.id,
            literal("queued"),
            literal(0),
            when,
            when,
        )
        .where(
            s.c.id > after_id,
            s.c.id <= through_id,
            _audience(wanted_topics),
            # Belt and braces beside the unique constraint, for a checkpoint saved late.
            ~exists(
                select(OutboxMessage.id).where(
                    OutboxMessage.campaign_id == campaign_id, OutboxMessage.subscriber_id == s.c.id
                )
            ),
        )
        .order_by(s.c.id)
    )


def expand_campaign(campaign: Campaign, batch_size: int = 5000) -> int:
    """Queue one outbox row per recipient, in id-ordered batches; returns how many rows were added.

    Each batch is one INSERT ... SELECT plus the new checkpoint (`expanded_through_id`) in the same
    transaction, committed before the next batch, as listmonk does: memory stays flat, and after a
    crash a second call carries on from the checkpoint without adding anyone twice.
    """
    if campaign.status != "expanding":
        return 0
    columns = [
        OutboxMessage.kind,
        OutboxMessage.to_address,
        OutboxMessage.campaign_id,
        OutboxMessage.subscriber_id,
        OutboxMessage.status,
        OutboxMessage.attempts,
        OutboxMessage.next_attempt_at,
        OutboxMessage.created_at,
    ]
    added = 0
    while True:
        after = campaign.expanded_through_id
        # The upper id of the next batch over all subscribers, so that each batch costs one index range.
        batch = select(Subscriber.id).where(Subscriber.id > after).order_by(Subscriber.id).limit(batch_size).subquery()
        through = db.session.scalar(select(func.max(batch.c.id)))
        if through is None:
            break
        in_range = select(func.count(OutboxMessage.id)).where(
            OutboxMessage.campaign_id == campaign.id,
            OutboxMessage.subscriber_id > after,
            OutboxMessage.subscriber_id <= through,
        )
        # Counted rather than read from rowcount, which psycopg does not report for INSERT ... SELECT here.
        before = db.session.scalar(in_range)
        db.session.execute(
            insert(OutboxMessage.__table__).from_select(
                [c.key for c in columns], _recipients_between(campaign.id, after, through, utcnow())
            )
        )
        count = db.session.scalar(in_range) - before
        campaign.expanded_through_id = through
        campaign.recipients_count = (campaign.recipients_count or 0) + count
        db.session.commit()
        added += count
    campaign.status = "sending"
    db.session.commit()
    if added and db.session.get_bind().dialect.name == "postgresql":
        # Fresh statistics: right after a large expansion the planner still thinks the outbox is
        # small, and the senders' claim query runs hundreds of times slower until autovacuum comes by.
        db.session.execute(text("ANALYZE outbox_messages"))
        db.session.commit()
    return added


def stop_campaign(campaign_id: int, reason: str, *, now: datetime, keep_claimed_by: str | None = None) -> None:
    """Stop a campaign whose messages cannot be built: it is marked 'failed' with the reason, and its
    messages still waiting are failed with it, rather than each being retried for hours. Messages
    claimed by other workers are left to them (they fail on their own when they try to build).
    `keep_claimed_by`: this worker's id, whose claimed rows are failed too. Never commits."""
    db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status.in_(("expanding", "sending")))
        .values(status="failed", error=reason[:2000], finished_at=now)
    )
    waiting = OutboxMessage.status == "queued"
    if keep_claimed_by:
        waiting = waiting | ((OutboxMessage.status == "sending") & (OutboxMessage.claimed_by == keep_claimed_by))
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.campaign_id == campaign_id, waiting)
        .values(status="failed", last_error=reason[:2000], lease_until=None)
        .execution_options(synchronize_session=False)
    )


def campaign_progress(campaign: Campaign) -> dict:
    """How many of the campaign's messages are queued, sending, sent, failed or suppressed."""
    counts = dict.fromkeys(("queued", "sending", "sent", "failed", "suppressed"), 0)
    rows = db.session.execute(
        select(OutboxMessage.status, func.count(OutboxMessage.id))
        .where(OutboxMessage.campaign_id == campaign.id)
        .group_by(OutboxMessage.status)
    )
    for status, count in rows:
        counts[status] = count
    counts["total"] = sum(counts.values())
    return counts


def finish_campaign_if_done(campaign: Campaign, now: datetime | None = None) -> bool:
    """Mark a fully expanded campaign done once nothing is left to send."""
    if campaign.status != "sending":
        return campaign.status == "done"
    progress = campaign_progress(campaign)
    if progress["queued"] or progress["sending"]:
        return False
    campaign.status = "done"
    campaign.finished_at = now or utcnow()
    return True


def tend_campaigns(now: datetime | None = None, stale_after: timedelta = timedelta(minutes=2)) -> None:
    """The mail worker's housekeeping: finish an expansion that a crash interrupted, and mark
    campaigns done once everything is delivered. Commits; safe to run from several workers."""
    now = now or utcnow()
    started = func.coalesce(Campaign.started_at, Campaign.created_at)
    stale = select(Campaign).where(Campaign.status == "expanding", started < now - stale_after)
    for campaign in db.session.scalars(stale.with_for_update(skip_locked=True)).all():
        try:
            expand_campaign(campaign)
        except IntegrityError:
            # Another worker expanded the same batch at the same moment; its rows stand.
            db.session.rollback()
    for campaign in db.session.scalars(select(Campaign).where(Campaign.status == "sending")).all():
        finish_campaign_if_done(campaign, now)
    db.session.commit()


_MARKDOWN_SPECIAL = str.maketrans({ch: "\\" + ch for ch in "\\`*_[]<>#|"})


def _markdown_literal(text: str) -> str:
    # Titles are text, not Markdown: keep a '*' in a title from turning into emphasis.
    return (text or "").translate(_MARKDOWN_SPECIAL)


def announcement_markdown(webinar: Webinar, language: str = DEFAULT_LANGUAGE) -> tuple[str, str]:
    """Subject and Markdown body announcing a webinar in `language`: title, date, times in its display
    zones, a link (which keeps the language: the reader's browser may prefer another)."""
    with in_language(language):
        local = to_zone(webinar.starts_at, webinar.timezone)
        link_language = {} if language == DEFAULT_LANGUAGE else {"lang": language}
        register_url = external_url("catalogue.webinar", slug=webinar.slug, **link_language)
        title = webinar.title_in(language)
        # One line whatever the stored title holds (titles were not always checked for U+2028 and the like).
        subject = _("New webinar: %(title)s", title=" ".join(title.split()))
        parts = [
            f"## {_markdown_literal(title)}",
            f"**{long_date(local)}**, {zone_times_line(webinar.starts_at, webinar.display_zones)}",
        ]
        summary = webinar.summary_in(language)
        if summary:
            parts.append(_markdown_literal(summary))
        link_text = _markdown_literal(_("Read more and register"))
        parts.append(f"[{link_text}]({register_url})")
        return subject, "\n\n".join(parts) + "\n"


def announcement_translations(webinar: Webinar) -> dict[str, tuple[str, str]]:
    """The announcement in every other language the service speaks, for create_campaign(translations=)."""
    return {language: announcement_markdown(webinar, language) for language in LOCALES if language != DEFAULT_LANGUAGE}


def why_not_announceable(webinar: Webinar, now: datetime) -> str | None:
    """Why an announcement of this webinar would mislead its readers, or None when it can go out: it
    must be published, showable, not started, and still open for registration."""
    if webinar.status != "published":
        return _("Only a published webinar can be announced.")
    if not webinar.presentable:
        return _("Its date or time zone cannot be shown; fix it first.")
    if webinar.ends_at <= now:
        return _("It has already taken place: an announcement would invite people to something that is over.")
    if webinar.starts_at <= now:
        return _("It has already started: an announcement would invite people to something they cannot join.")
    if not webinar.registration_open(now):
        return _("Its registration has closed: an announcement would invite people who cannot register.")
    return None
