"""Past one machine, simulated here: two app server processes and two mail workers on one PostgreSQL.

Everything goes through real sockets: browsers' POSTs with CSRF tokens to gunicorn, rows claimed by
separate `flask mail send --loop` processes, messages counted at the SMTP server.
"""

import http.cookiejar
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

import pytest
from sqlalchemy import func, select

from tests._support.forms import csrf_token_from_html
from tests._support.live_server import (
    flask_command,
    gunicorn_server,
    live_config,
    mail_worker,
    outbox_counts,
    seed_subscribers,
    wait_until,
)
from tests.factories import make_webinar

pytestmark = [pytest.mark.slow, pytest.mark.postgres_only]

SEATS = 10
ATTEMPTS = 40
SUBSCRIBERS = 5000


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Visitor:
    """One person's browser: its own cookie jar, no automatic redirects."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def request(self, url: str, data: dict | None = None) -> tuple[int, dict, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            with self.opener.open(url, data=body, timeout=60) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), error.read().decode()


@pytest.fixture
def cluster(pg_app, smtp_server, tmp_path):
    """Two gunicorn servers and two mail workers, all on the test's PostgreSQL database."""
    config = live_config(
        pg_app.config["SQLALCHEMY_DATABASE_URI"],
        smtp_server.port,
        "http://webinars.test",
        MAIL_BATCH_SIZE=100,
        MAIL_RETRY_BASE_SECONDS=1,
    )
    servers = [gunicorn_server(config, tmp_path, name=f"app-{n}", threads=12) for n in (1, 2)]
    workers = [mail_worker(config, tmp_path, name=f"mail-worker-{n}") for n in (1, 2)]
    processes = servers + workers
    try:
        for process in processes:  # start together: imports are the slow part
            process.start(wait=False)
        for process in processes:
            process.wait_ready()
        yield config, servers, workers
    finally:
        for process in processes:
            process.stop()
        for process in processes:
            assert "Traceback" not in process.log_path.read_text(), process.log_tail()


def test_forty_concurrent_registrations_over_two_servers_confirm_exactly_ten(pg_app, cluster, smtp_server):
    from webinars.extensions import db
    from webinars.registrations.models import Registration

    _, servers, _ = cluster
    with pg_app.app_context():
        slug = make_webinar(capacity=SEATS, title="Ten seats only").slug
        db.session.commit()

    # Every visitor opens the page first (session cookie + CSRF token), on one server or the other...
    visitors = []
    for n in range(ATTEMPTS):
        visitor, server = Visitor(), servers[n % 2]
        status, _, page = visitor.request(f"{server.url}/webinars/{slug}")
        assert status == 200
        visitors.append((visitor, server, csrf_token_from_html(page)))

    # ...then all of them press "Register" at the same moment, each on the other server.
    barrier = threading.Barrier(ATTEMPTS)
    answers: list = [None] * ATTEMPTS

    def register(n: int) -> None:
        visitor, server, token = visitors[n]
        other = servers[(n + 1) % 2]
        form = {
            "csrf_token": token,
            "name": f"Attendee {n}",
            "email": f"attendee{n}@example.org",
            "organisation": "",
            "country": "",
            "timezone": "Europe/Paris",
        }
        barrier.wait(timeout=60)
        answers[n] = visitor.request(f"{other.url}/webinars/{slug}/register", form)

    threads = [threading.Thread(target=register, args=(n,)) for n in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    statuses = Counter(answer[0] for answer in answers)
    assert statuses == {303: ATTEMPTS}, statuses
    assert all(answer[1]["Location"].split("?")[0].endswith(f"/webinars/{slug}/registered") for answer in answers)

    with pg_app.app_context():
        counts = dict(db.session.execute(select(Registration.status, func.count()).group_by(Registration.status)).all())
    assert counts == {"confirmed": SEATS, "waitlisted": ATTEMPTS - SEATS}

    # Each attendee gets exactly one message, delivered by the two workers: ten confirmations.
    messages = smtp_server.wait_for(ATTEMPTS, timeout=60)
    per_address = Counter(r for m in messages for r in m.rcpt_tos)
    assert per_address == Counter({f"attendee{n}@example.org": 1 for n in range(ATTEMPTS)})
    confirmations = [m for m in messages if m.subject.startswith("Registration confirmed")]
    assert len(confirmations) == SEATS


def test_campaign_to_five_thousand_is_delivered_exactly_once_by_two_workers(pg_app, cluster, smtp_server, tmp_path):
    from webinars.extensions import db
    from webinars.outbox.models import OutboxMessage

    config, _, _ = cluster
    with pg_app.app_context():
        addresses = seed_subscribers(SUBSCRIBERS)
    body = tmp_path / "campaign.md"
    body.write_text("# Autumn programme\n\nFive new webinars this autumn.\n", encoding="utf-8")
    result = flask_command(config, "newsletter", "send", "--subject", "Autumn programme", "--body-file", str(body))
    assert f"{SUBSCRIBERS} recipients queued" in result.stdout

    smtp_server.wait_for(SUBSCRIBERS, timeout=120)

    def drained():
        with pg_app.app_context():
            counts = outbox_counts()
        return counts if not counts.get("queued") and not counts.get("sending") else None

    assert wait_until(drained, 30, "the outbox to drain") == {"sent": SUBSCRIBERS}
    received = Counter(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert set(received) == set(addresses)
    assert max(received.values()) == 1, [a for a, n in received.items() if n > 1][:5]
    with pg_app.app_context():
        per_worker = dict(
            db.session.execute(select(OutboxMessage.claimed_by, func.count()).group_by(OutboxMessage.claimed_by)).all()
        )
    # Both workers took part: rows were shared out between them with SKIP LOCKED.
    assert len(per_worker) == 2 and all(count > 0 for count in per_worker.values()), per_worker


def test_a_scheduled_campaign_is_started_once_by_two_mail_workers_at_its_time(pg_app, smtp_server, tmp_path):
    """Two `flask mail send --loop` processes idle side by side; the campaign's time comes while they
    run, and their idle hooks race to start it: one does, and each subscriber gets one message."""
    from datetime import timedelta

    from webinars.database import utcnow
    from webinars.extensions import db
    from webinars.newsletter import operations
    from webinars.newsletter.models import Campaign
    from webinars.outbox.models import OutboxMessage

    count = 300
    config = live_config(pg_app.config["SQLALCHEMY_DATABASE_URI"], smtp_server.port, "http://webinars.test")
    with pg_app.app_context():
        addresses = seed_subscribers(count)
        campaign = operations.create_campaign("At nine", "Good morning.", [], created_by="test", draft=True)
        # A few seconds ahead: the workers are running (and idle) when it falls due.
        operations.schedule_campaign(campaign, utcnow() + timedelta(seconds=4), "Europe/Paris", now=utcnow())
        db.session.commit()
        campaign_id, due = campaign.id, campaign.scheduled_for
    workers = [mail_worker(config, tmp_path, name=f"mail-worker-{n}", poll=0.05) for n in (1, 2)]
    try:
        for worker in workers:
            worker.start(wait=False)
        for worker in workers:
            worker.wait_ready()
        smtp_server.wait_for(count, timeout=120)
    finally:
        for worker in workers:
            worker.stop()
        for worker in workers:
            assert "Traceback" not in worker.log_path.read_text(), worker.log_tail()
    received = Counter(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert received == Counter(dict.fromkeys(addresses, 1))
    with pg_app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign.recipients_count == count and campaign.started_at >= due
        first_queued = db.session.scalar(
            select(func.min(OutboxMessage.created_at)).where(OutboxMessage.campaign_id == campaign_id)
        )
        assert first_queued >= due  # nothing of it was queued before its time
