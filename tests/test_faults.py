"""Faults under real conditions: the mail server goes away, a worker is killed, the database refuses.

Mail workers and app servers run as separate processes (tests/_support/live_server.py) against the
test's database and the real SMTP test server, so what is proven is what production would do.
"""

import time
import urllib.error
import urllib.request
from collections import Counter

import pytest

from tests._support.live_server import (
    TcpProxy,
    gunicorn_server,
    live_config,
    mail_worker,
    outbox_counts,
    queue_campaign,
    seed_subscribers,
    wait_until,
)
from tests._support.smtp import SMTPTestServer
from tests.factories import make_webinar

pytestmark = pytest.mark.slow

# Short leases and retry delays so that recovery takes seconds, not the production minutes.
FAST_RETRIES = {"MAIL_RETRY_BASE_SECONDS": 0.5, "MAIL_RETRY_MAX_SECONDS": 2, "MAIL_LEASE_SECONDS": 2}


def _worker_config(app, smtp_server: SMTPTestServer, **overrides) -> dict:
    return live_config(
        app.config["SQLALCHEMY_DATABASE_URI"], smtp_server.port, "http://webinars.test", **FAST_RETRIES, **overrides
    )


def _recipients(smtp_server: SMTPTestServer) -> Counter:
    return Counter(r.lower() for m in smtp_server.messages for r in m.rcpt_tos)


def _all_done(app):
    with app.app_context():
        counts = outbox_counts()
    return counts if not counts.get("queued") and not counts.get("sending") else None


def test_smtp_server_stops_mid_campaign_and_comes_back_nothing_lost_nothing_doubled(app, smtp_server, tmp_path):
    # Paced, so that the campaign is still going when the server disappears. Started first: the
    # worker's start-up (imports) overlaps with preparing the campaign.
    worker = mail_worker(_worker_config(app, smtp_server, MAIL_RATE_LIMIT=200, MAIL_BATCH_SIZE=25), tmp_path)
    worker.start()
    try:
        with app.app_context():
            addresses = seed_subscribers(240)
            queue_campaign()
        smtp_server.wait_for(80, timeout=60)
        smtp_server.stop()
        down_at = len(smtp_server.messages)
        assert down_at < len(addresses), "the campaign finished before the server went down"

        # The worker notices and schedules retries instead of losing or failing messages.
        def retries_recorded():
            with app.app_context():
                from sqlalchemy import func, select

                from webinars.extensions import db
                from webinars.outbox.models import OutboxMessage

                db.session.rollback()
                n = db.session.scalar(
                    select(func.count()).where(OutboxMessage.status == "queued", OutboxMessage.last_error.is_not(None))
                )
                db.session.rollback()
                return n

        wait_until(retries_recorded, 30, "the worker to schedule retries while the server is down")
        time.sleep(1.0)
        assert len(smtp_server.messages) == down_at
        smtp_server.start()

        smtp_server.wait_for(len(addresses), timeout=90)
        counts = wait_until(lambda: _all_done(app), 30, "the outbox to drain")
    finally:
        worker.stop()
    received = _recipients(smtp_server)
    assert set(received) == set(addresses), "messages were lost"
    assert [a for a, n in received.items() if n > 1] == [], "messages were doubled"
    assert counts == {"sent": len(addresses)}, counts


def test_worker_killed_mid_batch_repeats_at_most_the_message_in_flight(app, smtp_server, tmp_path):
    config = _worker_config(app, smtp_server, MAIL_RATE_LIMIT=200, MAIL_BATCH_SIZE=50)
    worker = mail_worker(config, tmp_path)
    worker.start()
    try:
        with app.app_context():
            addresses = seed_subscribers(240)
            queue_campaign()
        smtp_server.wait_for(80, timeout=60)
        worker.kill()  # SIGKILL: no clean-up, its claimed batch stays leased to a dead worker
        killed_at = len(smtp_server.messages)
        assert killed_at < len(addresses), "the campaign finished before the worker was killed"
        with app.app_context():
            assert outbox_counts().get("sending"), "the dead worker left no leased rows behind"

        worker.start()  # a new process; it takes the dead worker's rows over when their lease runs out
        smtp_server.wait_for(len(addresses), timeout=90)
        counts = wait_until(lambda: _all_done(app), 30, "the outbox to drain")
    finally:
        worker.stop()
    received = _recipients(smtp_server)
    assert set(received) == set(addresses), "messages were lost"
    repeated = {a: n for a, n in received.items() if n > 1}
    # Each row is marked sent in its own commit right after its SMTP transaction: only the one
    # message in flight when the process died can go out twice.
    assert len(repeated) <= 1 and all(n == 2 for n in repeated.values()), repeated
    assert sum(received.values()) <= len(addresses) + 1
    assert counts == {"sent": len(addresses)}, counts


# -- the database goes away ----------------------------------------------------------------------


def _get(url: str) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read().decode()


def _assert_clear_503(status: int, headers: dict, body: str) -> None:
    assert status == 503, body[:500]
    assert "Temporarily unavailable" in body
    assert 'class="site-header"' in body and "Back to the list of webinars" in body  # the site's layout
    assert "Traceback" not in body and "OperationalError" not in body and "psycopg" not in body
    assert headers.get("Retry-After") == "5"
    assert "frame-ancestors" in headers.get("Content-Security-Policy", "")


def test_database_refusing_connections_gives_a_503_page_and_recovers(pg_app, postgres_cluster, smtp_server, tmp_path):
    with pg_app.app_context():
        from webinars.extensions import db

        slug = make_webinar(title="Still here after the outage").slug
        db.session.commit()
    proxy = TcpProxy(postgres_cluster.port).up()
    url = proxy.rewrite(pg_app.config["SQLALCHEMY_DATABASE_URI"], postgres_cluster.port)
    server = gunicorn_server(live_config(url, smtp_server.port, "http://webinars.test"), tmp_path, threads=2)
    server.start()
    try:
        pages = ["/", f"/webinars/{slug}", "/newsletter"]
        for path in pages:
            status, _, body = _get(server.url + path)
            assert status == 200, f"{path}: {status}"

        proxy.down()  # open connections are cut and new ones refused
        for path in pages:
            status, headers, body = _get(server.url + path)
            if path == "/" and status == 200:
                # The catalogue may still be served from the page cache for a second or two
                # (CATALOGUE_VERSION_SECONDS): the real page, never an error in disguise.
                assert "Still here after the outage" in body
                continue
            _assert_clear_503(status, headers, body)

        proxy.up()
        # The pool checks connections before use, so the first request after the outage succeeds.
        for path in pages:
            status, _, body = _get(server.url + path)
            assert status == 200, f"{path} after recovery: {status}\n{body[:500]}"
        assert "Still here after the outage" in _get(server.url + f"/webinars/{slug}")[2]
    finally:
        server.stop()
        proxy.close()
    assert "Traceback" not in server.log_path.read_text()


def test_database_that_never_answers_gives_a_503_not_a_stack_trace(smtp_server, tmp_path):
    from tests._support.postgres import free_port
    from webinars import create_app

    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/webinars"
    app = create_app(live_config(closed, smtp_server.port, "http://webinars.test"))
    client = app.test_client()
    for path in ["/", "/webinars/anything", "/calendar.ics", "/newsletter"]:
        response = client.get(path)
        _assert_clear_503(response.status_code, dict(response.headers), response.get_data(as_text=True))
