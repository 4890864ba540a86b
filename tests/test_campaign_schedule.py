"""A campaign before it leaves: a draft tried with a test to its author, the number it reaches said
first, an editor's draft approved by an owner, then sent now or scheduled at a date and time in a
chosen zone (stored in UTC with that zone), started by the mail worker's idle hook exactly once
however many workers run it, and cancelled before it starts. The list shows drafts, scheduled,
sending and sent campaigns apart."""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests._support.forms import post_form
from tests.test_admin import PASSWORD, make_organiser, sign_in, signed_in
from webinars.audit import AuditEvent
from webinars.database import utcnow
from webinars.extensions import db
from webinars.newsletter import operations
from webinars.newsletter.models import Campaign, Subscriber
from webinars.outbox.models import OutboxMessage
from webinars.outbox.sender import deliver_due

NEW = "/admin/newsletter/campaigns/new"
EDITOR = "editor@example.org"
SUBSCRIBERS = ("ann@example.org", "bob@example.org", "cat@example.org")


def _subscribers(app, addresses=SUBSCRIBERS) -> None:
    with app.app_context():
        for address in addresses:
            db.session.add(Subscriber(email=address, name=address[:3], status="subscribed", confirmed_at=utcnow()))
        db.session.add(Subscriber(email="dan@example.org", name="Dan", status="pending"))
        db.session.commit()


def _draft(client, subject="Autumn programme", body="Five **new** webinars.") -> str:
    """Save a draft through the form; returns its page's URL."""
    response = post_form(client, NEW, {"subject": subject, "body": body, "action": "draft"})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return response.headers["Location"]


def _campaign_id(url: str) -> int:
    return int(re.search(r"/campaigns/(\d+)", url).group(1))


def _deliver(app):
    with app.app_context():
        return deliver_due()


def _schedule(client, url: str, **fields):
    data = {
        "when": "later",
        "send_date": "2030-06-04",
        "send_time": "09:00",
        "zone": "America/New_York",
        "confirm": "y",
    }
    data.update(fields)
    return post_form(client, f"{url}/send", {k: v for k, v in data.items() if v is not None}, form_url=url)


def test_a_draft_is_tried_with_a_test_to_its_author_and_says_how_many_it_would_reach(app, client, smtp_server):
    _subscribers(app)
    organiser = signed_in(app, client)
    url = _draft(organiser)
    page = organiser.get(url).get_data(as_text=True)
    assert "Sent now, it would go to 3 subscribers." in page  # dan is not confirmed
    assert "<strong>new</strong>" in page
    test = post_form(organiser, f"{url}/test", {}, form_url=url)
    assert test.status_code == 303
    assert "A test is on its way to organiser@example.org" in organiser.get(url).get_data(as_text=True)
    _deliver(app)
    [trial] = smtp_server.messages
    assert trial.rcpt_tos == ("organiser@example.org",) and trial.subject == "[Test] Autumn programme"
    assert "<strong>new</strong>" in trial.body("html")
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert campaign.status == "draft" and campaign.recipients_count == 0
        assert db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.kind == "campaign")) == 0


def test_a_campaign_scheduled_in_a_zone_leaves_at_its_time_and_not_before(app, client, smtp_server):
    _subscribers(app)
    organiser = signed_in(app, client)
    url = _draft(organiser)
    response = _schedule(organiser, url)
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    page = organiser.get(url).get_data(as_text=True)
    assert "Scheduled: the mail worker sends it on Tuesday 4 June 2030 at 09:00" in page
    # 09:00 in New York on 4 June 2030 (EDT, UTC-4) is 13:00 UTC; the zone it was entered in is kept.
    at = datetime(2030, 6, 4, 13, 0, tzinfo=UTC)
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert (campaign.status, campaign.scheduled_for, campaign.scheduled_zone) == (
            "scheduled",
            at,
            "America/New_York",
        )
        campaign_id = campaign.id
        assert operations.start_due_campaigns(at - timedelta(seconds=1)) == []
        deliver_due()
    assert smtp_server.messages == []
    listing = organiser.get("/admin/newsletter/campaigns").get_data(as_text=True)
    scheduled = listing.split('id="campaigns-scheduled"')[1].split("</section>")[0]
    assert "Autumn programme" in scheduled and "2030-06-04 13:00" in scheduled
    with app.app_context():
        assert operations.start_due_campaigns(at) == [campaign_id]
        deliver_due()
        operations.tend_campaigns()
        campaign = db.session.get(Campaign, campaign_id)
        assert (campaign.status, campaign.started_at, campaign.recipients_count) == ("done", at, 3)
    assert Counter(m.rcpt_tos[0] for m in smtp_server.messages) == Counter(dict.fromkeys(SUBSCRIBERS, 1))
    listing = organiser.get("/admin/newsletter/campaigns").get_data(as_text=True)
    assert "Autumn programme" in listing.split('id="campaigns-sent"')[1]
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions[-2:] == ["campaign created", "campaign scheduled"]


def test_the_mail_workers_idle_hook_starts_a_due_campaign_once_however_many_workers_run_it(app, smtp_server):
    _subscribers(app)
    with app.app_context():
        campaign = operations.create_campaign("Due", "Now.", [], created_by="t", draft=True)
        operations.schedule_campaign(campaign, utcnow() + timedelta(hours=1), "Europe/Paris", now=utcnow())
        db.session.commit()
        campaign_id = campaign.id
    later = utcnow() + timedelta(hours=2)
    barrier, started, errors = threading.Barrier(4), [], []

    def worker():
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                started.extend(operations.start_due_campaigns(later))
                db.session.remove()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and started == [campaign_id]
    _deliver(app)
    assert Counter(m.rcpt_tos[0] for m in smtp_server.messages) == Counter(dict.fromkeys(SUBSCRIBERS, 1))
    with app.app_context():
        rows = db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.campaign_id == campaign_id))
        assert rows == 3


def test_the_mail_worker_runs_the_hook_while_idle(app, smtp_server):
    """The hook is registered with the outbox: the worker's own idle pass starts the campaign."""
    from webinars.outbox.sender import _housekeeping

    _subscribers(app)
    with app.app_context():
        campaign = operations.create_campaign("Due", "Now.", [], created_by="t", draft=True)
        operations.schedule_campaign(campaign, utcnow() + timedelta(hours=1), "Europe/Paris", now=utcnow())
        db.session.commit()
        _housekeeping()
        assert db.session.get(Campaign, campaign.id, populate_existing=True).status == "scheduled"
        campaign.scheduled_for = utcnow() - timedelta(seconds=1)  # its time has come
        db.session.commit()
        _housekeeping()
        assert db.session.get(Campaign, campaign.id, populate_existing=True).status == "sending"
        deliver_due()
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == sorted(SUBSCRIBERS)


def test_a_schedule_is_cancelled_before_it_starts_and_not_after(app, client, smtp_server):
    _subscribers(app)
    organiser = signed_in(app, client)
    url = _draft(organiser)
    assert _schedule(organiser, url).status_code == 303
    cancelled = post_form(organiser, f"{url}/unschedule", {}, form_url=url)
    assert cancelled.status_code == 303
    assert "The scheduled sending is cancelled" in organiser.get(url).get_data(as_text=True)
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert (campaign.status, campaign.scheduled_for, campaign.scheduled_zone) == ("draft", None, None)
        assert operations.start_due_campaigns(datetime(2031, 1, 1, tzinfo=UTC)) == []
    _deliver(app)
    assert smtp_server.messages == []
    # Scheduled again, started by the worker: too late to cancel, and nothing changes.
    assert _schedule(organiser, url).status_code == 303
    with app.app_context():
        assert operations.start_due_campaigns(datetime(2031, 1, 1, tzinfo=UTC)) == [campaign.id]
    late = post_form(organiser, f"{url}/unschedule", {}, form_url=url)
    assert "not waiting to be sent" in organiser.get(late.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Campaign, campaign.id).status == "sending"
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions.count("campaign unscheduled") == 1 and actions.count("campaign scheduled") == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"send_date": "2020-06-04"}, "Choose a time in the future."),
        # The clocks go from 02:00 to 03:00 in Paris that night.
        ({"send_date": "2030-03-31", "send_time": "02:30", "zone": "Europe/Paris"}, "does not exist"),
        ({"send_time": ""}, "Choose the time."),
        ({"zone": "Mars/Olympus"}, "Choose a time zone from the list."),
        ({"confirm": None}, "Tick this box to send the campaign."),
    ],
)
def test_a_time_that_cannot_be_used_is_refused_and_nothing_is_scheduled(app, client, fields, message):
    organiser = signed_in(app, client)
    url = _draft(organiser)
    response = _schedule(organiser, url, **fields)
    page = response.get_data(as_text=True)
    if response.status_code == 303:  # refused by the operation after the form: said on the page
        page = organiser.get(response.headers["Location"]).get_data(as_text=True)
    else:
        assert response.status_code == 422
    assert message in page
    with app.app_context():
        assert db.session.scalar(select(Campaign.status)) == "draft"


def test_an_editors_campaign_waits_for_an_owners_approval_which_a_change_withdraws(app, client, smtp_server):
    _subscribers(app)
    make_organiser(app, EDITOR, role="editor")
    editor = app.test_client()
    assert sign_in(editor, EDITOR, PASSWORD).status_code == 302
    # "Send" from an editor keeps a draft for an owner.
    response = post_form(editor, NEW, {"subject": "From the editor", "body": "Hello.", "action": "send"})
    url = response.headers["Location"]
    assert "an owner approves it before it can be sent" in editor.get(url).get_data(as_text=True)
    refused = _schedule(editor, url, when="now")
    assert "An owner must approve this campaign" in editor.get(refused.headers["Location"]).get_data(as_text=True)
    assert post_form(editor, f"{url}/approve", {}, form_url=url).status_code == 403  # owners only
    owner = signed_in(app, client)
    assert post_form(owner, f"{url}/approve", {}, form_url=url).status_code == 303
    # A change after the approval withdraws it.
    edit = f"{url}/edit"
    changed = post_form(editor, edit, {"subject": "From the editor", "body": "Hello again."})
    assert changed.status_code == 303
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert campaign.needs_approval and campaign.approved_at is None
    assert post_form(owner, f"{url}/approve", {}, form_url=url).status_code == 303
    sent = _schedule(editor, url, when="now")
    assert sent.status_code == 303
    _deliver(app)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == sorted(SUBSCRIBERS)
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions.count("campaign approved") == 2 and "campaign changed" in actions and "campaign sent" in actions


def test_the_command_schedules_in_a_zone_and_cancels(app, runner, tmp_path, smtp_server):
    _subscribers(app)
    body = tmp_path / "c.md"
    body.write_text("Hello.", encoding="utf-8")
    args = ["newsletter", "send", "--subject", "Later", "--body-file", str(body), "--at", "2030-06-04 09:00"]
    missing = runner.invoke(args=args)
    assert missing.exit_code != 0 and "--zone" in missing.output
    result = runner.invoke(args=[*args, "--zone", "Asia/Kolkata"])
    assert result.exit_code == 0, result.output
    assert "scheduled for Tuesday 4 June 2030 at 09:00" in result.output
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert campaign.scheduled_for == datetime(2030, 6, 4, 3, 30, tzinfo=UTC)  # IST is UTC+05:30
        assert campaign.scheduled_zone == "Asia/Kolkata"
    assert runner.invoke(args=["newsletter", "unschedule", str(campaign.id)]).exit_code == 0
    again = runner.invoke(args=["newsletter", "unschedule", str(campaign.id)])
    assert again.exit_code != 0 and "not waiting to be sent" in again.output
    with app.app_context():
        assert db.session.get(Campaign, campaign.id).status == "draft"
        assert operations.start_due_campaigns(datetime(2031, 1, 1, tzinfo=UTC)) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"when": "tomorrow"},
        {"send_date": "2030-02-30"},
        {"send_date": "99999-01-01"},
        {"send_date": "\x00"},
        {"send_time": "25:61"},
        {"send_time": "9h"},
        {"zone": "../../etc/passwd"},
        {"zone": "x" * 5000},
    ],
)
def test_hostile_schedules_get_an_answer_and_change_nothing(app, client, fields):
    organiser = signed_in(app, client)
    url = _draft(organiser)
    response = _schedule(organiser, url, **fields)
    assert response.status_code in (303, 400, 422)
    with app.app_context():
        assert db.session.scalar(select(Campaign.status)) == "draft"


def test_a_campaign_no_longer_a_draft_is_not_sent_again(app, client, smtp_server):
    _subscribers(app)
    organiser = signed_in(app, client)
    url = _draft(organiser)
    assert _schedule(organiser, url, when="now").status_code == 303
    again = _schedule(organiser, url, when="now")
    assert "no longer a draft" in organiser.get(again.headers["Location"]).get_data(as_text=True)
    _deliver(app)
    assert Counter(m.rcpt_tos[0] for m in smtp_server.messages) == Counter(dict.fromkeys(SUBSCRIBERS, 1))
