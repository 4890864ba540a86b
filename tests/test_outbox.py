"""The transactional outbox: building messages, delivering them over real SMTP, retries, bounces."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from webinars.database import utcnow
from webinars.extensions import db
from webinars.outbox.messages import build_email
from webinars.outbox.models import OutboxMessage, Suppression
from webinars.outbox.operations import enqueue
from webinars.outbox.sender import Sender, deliver_due

ICS_REQUEST = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:REQUEST\r\n"
    b"BEGIN:VEVENT\r\nUID:abc@webinars.test\r\nDTSTAMP:20300101T000000Z\r\n"
    b"DTSTART:20300102T100000Z\r\nDTEND:20300102T110000Z\r\nSEQUENCE:0\r\nSUMMARY:Caf\xc3\xa9\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def queue(app, count: int = 1, to: str = "ana@example.com", **kwargs) -> list[int]:
    with app.app_context():
        rows = []
        for n in range(count):
            address = to.format(n=n)
            message = build_email(
                to=address, subject=f"Message {n}", text=f"Hello {n}", html=f"<p>Hello {n}</p>", **kwargs
            )
            rows.append(enqueue(message, "test"))
        db.session.commit()
        return [row.id for row in rows]


def statuses(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
        return dict(rows)


def test_build_email_is_multipart_with_the_headers_every_message_carries(app):
    with app.app_context():
        message = build_email(to="Zoé <zoe@example.com>", subject="Café", text="Bonjour", html="<p>Bonjour</p>")
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@webinars.test>")
    assert message["Date"]
    assert message["From"] == "Webinars <webinars@webinars.test>"


@pytest.mark.parametrize(
    "field", [{"subject": "Hi\r\nBcc: victim@example.com"}, {"to": "a@example.com\nBcc: victim@example.com"}]
)
def test_no_header_injection_through_any_value(app, field):
    arguments = {"to": "a@example.com", "subject": "Hi", "text": "t", "html": "h"} | field
    with app.app_context(), pytest.raises(ValueError):
        build_email(**arguments)
    with app.app_context(), pytest.raises(ValueError):
        build_email(to="a@example.com", subject="s", text="t", html="h", headers={"X-Test": "a\rb"})


def test_calendar_part_method_must_match_the_method_inside(app):
    with app.app_context(), pytest.raises(ValueError):
        build_email(to="a@example.com", subject="s", text="t", html="h", calendar=(ICS_REQUEST, "CANCEL"))


def test_mail_send_delivers_queued_message_with_its_invite_part(app, runner, smtp_server):
    queue(app, calendar=(ICS_REQUEST, "REQUEST"))
    result = runner.invoke(args=["mail", "send"])
    assert result.exit_code == 0, result.output
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == ("ana@example.com",)
    assert received.mail_from == "webinars@webinars.test"
    parts = {part.get_content_type(): part for part in received.message.walk()}
    calendar_part = parts["text/calendar"]
    calendar = Calendar.from_ical(calendar_part.get_content())
    assert calendar_part.get_param("method") == str(calendar["METHOD"]) == "REQUEST"
    assert str(calendar.walk("VEVENT")[0]["SUMMARY"]) == "Café"
    assert statuses(app) == {"sent": 1}
    # Nothing is sent twice when the command runs again.
    runner.invoke(args=["mail", "send"])
    assert len(smtp_server.messages) == 1


def test_smtp_down_then_back_loses_nothing(app, smtp_server):
    queue(app, count=3, to="user{n}@example.com")
    smtp_server.stop()
    with app.app_context():
        report = deliver_due()
    assert report.sent == 0 and report.retried == 3
    assert statuses(app) == {"queued": 3}
    with app.app_context():
        row = db.session.scalars(select(OutboxMessage)).first()
        assert row.attempts == 1 and row.last_error and row.next_attempt_at > utcnow()
    smtp_server.start()
    with app.app_context():
        assert deliver_due().sent == 0  # backing off: not due yet
        report = deliver_due(now=utcnow() + timedelta(hours=1))
    assert report.sent == 3
    assert sorted(m.rcpt_tos[0] for m in smtp_server.wait_for(3)) == [f"user{n}@example.com" for n in range(3)]
    assert statuses(app) == {"sent": 3}


def test_temporary_refusal_is_retried_with_growing_backoff(app, smtp_server):
    [row_id] = queue(app, to="slow@example.com")
    smtp_server.defer_rcpt("slow@example.com", times=2)
    delays = []
    now = utcnow()
    with app.app_context():
        for _ in range(2):
            deliver_due(now=now)
            row = db.session.get(OutboxMessage, row_id)
            delays.append((row.next_attempt_at - now).total_seconds())
            now = row.next_attempt_at
            db.session.rollback()
        report = deliver_due(now=now)
        row = db.session.get(OutboxMessage, row_id)
        assert (report.sent, row.status, row.attempts) == (1, "sent", 3)
    assert delays[1] == 2 * delays[0] > 0
    assert len(smtp_server.messages_to("slow@example.com")) == 1


@pytest.mark.app_config(MAIL_MAX_ATTEMPTS=2, MAIL_RETRY_BASE_SECONDS=1)
def test_gives_up_after_a_bounded_number_of_attempts(app, smtp_server):
    [row_id] = queue(app, to="never@example.com")
    smtp_server.defer_rcpt("never@example.com", times=None)
    with app.app_context():
        deliver_due()
        deliver_due(now=utcnow() + timedelta(hours=1))
        row = db.session.get(OutboxMessage, row_id)
        assert (row.status, row.attempts) == ("failed", 2)
        assert "451" in row.last_error


def test_hard_bounce_fails_the_row_and_suppresses_the_address(app, smtp_server):
    queue(app, to="gone@example.com")
    queue(app, to="fine@example.com")
    smtp_server.refuse_rcpt("gone@example.com", code=550)
    with app.app_context():
        report = deliver_due()
        assert (report.sent, report.failed) == (1, 1)
        assert db.session.scalar(select(Suppression.email)) == "gone@example.com"
    assert statuses(app) == {"sent": 1, "failed": 1}


@pytest.mark.app_config(MAIL_SERVER=None)
def test_without_mail_server_messages_become_eml_files(app, tmp_path):
    app.config["MAIL_OUTBOX_DIR"] = str(tmp_path / "mail")
    [row_id] = queue(app, calendar=(ICS_REQUEST, "REQUEST"))
    with app.app_context():
        assert deliver_due().sent == 1
    [path] = (tmp_path / "mail").glob("*.eml")
    assert path.name == f"{row_id:08d}-test.eml"
    assert b'method="REQUEST"' in path.read_bytes() or b"method=REQUEST" in path.read_bytes()
    assert statuses(app) == {"sent": 1}


def test_expired_lease_is_taken_over_and_a_live_one_is_not(app, smtp_server):
    [row_id] = queue(app)
    with app.app_context():
        crashed = Sender(worker_id="crashed")
        rows = crashed.claim_batch(utcnow(), utcnow())  # claimed, then the worker "dies"
        assert [r.id for r in rows] == [row_id]
        crashed.close()
        assert deliver_due().claimed == 0  # the lease still holds
        report = deliver_due(now=utcnow() + timedelta(minutes=10))
        assert report.sent == 1
        row = db.session.get(OutboxMessage, row_id)
        assert row.status == "sent" and row.claimed_by != "crashed"
    assert len(smtp_server.wait_for(1)) == 1


@pytest.mark.slow
def test_two_workers_on_postgresql_never_send_a_message_twice(pg_app, smtp_server):
    pg_app.config["MAIL_BATCH_SIZE"] = 7
    queue(pg_app, count=300, to="reader{n}@example.com")
    barrier = threading.Barrier(2)
    reports = []

    def work():
        with pg_app.app_context():
            barrier.wait()
            reports.append(deliver_due())
            db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r.sent for r in reports) == 300
    assert all(r.sent > 0 for r in reports), "both workers should have taken a share"
    received = smtp_server.wait_for(300)
    ids = [m.message["Message-ID"] for m in received]
    assert len(ids) == len(set(ids)) == 300
    assert statuses(pg_app) == {"sent": 300}


@pytest.mark.app_config(MAIL_RATE_LIMIT=20)
def test_rate_limit_paces_messages(app, smtp_server):
    import time

    queue(app, count=5, to="p{n}@example.com")
    started = time.monotonic()
    with app.app_context():
        assert deliver_due().sent == 5
    assert time.monotonic() - started >= 4 / 20 * 0.9


@pytest.mark.slow
def test_mail_worker_loop_delivers_and_stops_cleanly_on_sigterm(sqlite_app, smtp_server):
    import os
    import signal
    import subprocess
    import sys

    queue(sqlite_app, count=2, to="loop{n}@example.com")
    env = {
        **os.environ,
        "DATABASE_URL": sqlite_app.config["SQLALCHEMY_DATABASE_URI"],
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_server.port),
        "MAIL_DEFAULT_SENDER": "Webinars <webinars@webinars.test>",
        "WEBINARS_ENV": "development",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "webinars", "mail", "send", "--loop", "--poll", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        smtp_server.wait_for(2, timeout=30)
        queue(sqlite_app, count=1, to="later{n}@example.com")  # picked up while polling
        smtp_server.wait_for(3, timeout=30)
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err.decode()
    assert b"stopped" in err
    assert statuses(sqlite_app) == {"sent": 3}


def test_a_bounce_after_a_reconnect_is_a_bounce_and_the_rest_of_the_batch_goes_out(app, smtp_server):
    """The server drops the worker's idle connection; on the fresh one it refuses the first address
    with a 550. That address is bounced (failed, suppressed) once; the others are delivered."""
    queue(app, to="warm@example.com")
    with app.app_context():
        sender = Sender()
        try:
            assert sender.deliver().sent == 1  # the connection is open and kept
            smtp_server.stop()  # drops it
            smtp_server.start()
            smtp_server.refuse_rcpt("gone@example.com", code=550)
            queue(app, to="gone@example.com")
            queue(app, count=2, to="fine{n}@example.com")
            report = sender.deliver()
        finally:
            sender.close()
        assert (report.sent, report.failed, report.retried, report.bounced) == (2, 1, 0, 1), str(report)
        gone = db.session.scalar(select(OutboxMessage).where(OutboxMessage.to_address == "gone@example.com"))
        assert gone.status == "failed" and gone.attempts == 1 and "550" in gone.last_error
        assert db.session.scalar(select(Suppression.email)) == "gone@example.com"
    assert statuses(app) == {"sent": 3, "failed": 1}
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages[1:]) == ["fine0@example.com", "fine1@example.com"]
