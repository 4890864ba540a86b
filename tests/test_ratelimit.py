"""Rate limits in the database: fixed-window counters and growing delays, atomic under parallel
requests on SQLite and PostgreSQL, and the mail worker's pruning of old ones."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
import pytz
from sqlalchemy import func, select

from tests._support.forms import csrf_token_from_html
from tests._support.live_server import gunicorn_server, live_config
from tests.test_scale_out import Visitor
from webinars import ratelimit
from webinars.database import utcnow
from webinars.extensions import db
from webinars.outbox import sender
from webinars.ratelimit import RateLimitBackoff, RateLimitCounter

HOUR = timedelta(hours=1)
NOON = pytz.utc.localize(datetime(2030, 6, 4, 12, 0, 0))


def test_check_counts_hits_within_a_fixed_window_and_says_when_to_come_back(app):
    with app.app_context():
        verdicts = [ratelimit.check("signup", "192.0.2.1", 2, HOUR, NOON + timedelta(minutes=m)) for m in (0, 1, 2)]
        assert [v.allowed for v in verdicts] == [True, True, False]
        assert [v.count for v in verdicts] == [1, 2, 3]
        assert verdicts[2].retry_after == 58 * 60  # the hour's window ends at 13:00
        # Another key, another bucket: counted apart.
        assert ratelimit.allow("signup", "192.0.2.2", 2, HOUR, NOON)
        assert ratelimit.allow("other", "192.0.2.1", 2, HOUR, NOON)
        # The next window starts from zero.
        assert ratelimit.allow("signup", "192.0.2.1", 2, HOUR, NOON + HOUR)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(RateLimitCounter)) == 4


def test_undo_takes_back_one_hit(app):
    with app.app_context():
        assert ratelimit.allow("login-email", "a@example.org", 1, HOUR, NOON)
        ratelimit.undo("login-email", "a@example.org", HOUR, NOON)
        assert ratelimit.allow("login-email", "a@example.org", 1, HOUR, NOON)
        assert not ratelimit.allow("login-email", "a@example.org", 1, HOUR, NOON)


def test_attempts_get_growing_delays_and_refused_ones_change_nothing(app):
    schedule = ratelimit.delays(3, timedelta(seconds=30), timedelta(minutes=5))
    assert schedule == [timedelta(0)] * 2 + [timedelta(seconds=s) for s in (30, 60, 120, 240, 300)]
    with app.app_context():

        def attempt(at: datetime) -> ratelimit.Verdict:
            return ratelimit.attempt("login-pair", "a@example.org 192.0.2.1", schedule, forget_after=HOUR, now=at)

        assert [attempt(NOON).allowed for _ in range(3)] == [True, True, True]
        # After the third (free) attempt, the fourth waits 30 s, the fifth a minute, the sixth two.
        refused = attempt(NOON)
        assert not refused.allowed and refused.retry_after == 30
        assert not attempt(NOON + timedelta(seconds=29)).allowed  # refused tries do not push it back
        assert attempt(NOON + timedelta(seconds=30)).allowed
        assert attempt(NOON + timedelta(seconds=60)).retry_after == 30
        assert attempt(NOON + timedelta(seconds=90)).allowed
        assert attempt(NOON + timedelta(seconds=91)).retry_after == 119
        assert attempt(NOON + timedelta(seconds=210)).count == 6
        # Quiet for longer than forget_after: free attempts again.
        later = NOON + timedelta(hours=2)
        assert [attempt(later).allowed for _ in range(4)] == [True, True, True, False]
        # Another key is not slowed down.
        other = ratelimit.attempt("login-pair", "a@example.org 192.0.2.9", schedule, forget_after=HOUR, now=later)
        assert other.allowed


def test_clear_and_forget_remove_a_keys_rows(app):
    with app.app_context():
        schedule = ratelimit.delays(1, timedelta(seconds=30), timedelta(minutes=5))
        ratelimit.allow("recipient", "ana@example.org", 3, HOUR, NOON)
        ratelimit.allow("newsletter-client", "ana@example.org", 3, HOUR, NOON)
        ratelimit.attempt("login-pair", "ana@example.org", schedule, forget_after=HOUR, now=NOON)
        ratelimit.allow("recipient", "ben@example.org", 3, HOUR, NOON)
        ratelimit.clear("recipient", "ben@example.org")
        assert ratelimit.forget("ana@example.org") == 3
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(RateLimitCounter)) == 0
        assert db.session.scalar(select(func.count()).select_from(RateLimitBackoff)) == 0


def test_worker_housekeeping_forgets_counters_older_than_any_window(app):
    now = utcnow()
    schedule = ratelimit.delays(1, timedelta(seconds=30), timedelta(minutes=5))
    with app.app_context():
        ratelimit.allow("login-ip", "old", 5, HOUR, now - timedelta(days=2))
        ratelimit.allow("login-ip", "recent", 5, HOUR, now - timedelta(hours=2))
        ratelimit.attempt("login-pair", "old", schedule, forget_after=HOUR, now=now - timedelta(days=2))
        ratelimit.attempt("login-pair", "recent", schedule, forget_after=HOUR, now=now - timedelta(hours=2))
        db.session.commit()
        sender._housekeeping()
        assert set(db.session.scalars(select(RateLimitCounter.key))) == {"recent"}
        assert set(db.session.scalars(select(RateLimitBackoff.key))) == {"recent"}


# -- under parallel requests ------------------------------------------------------------------------

PARALLEL = 40
LIMIT = 5


def _in_parallel(count: int, work) -> list:
    """Run work(n) in `count` threads released together; returns their results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[n] = work(n)
        except BaseException as error:  # reported below, so that a failed thread fails the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


def test_forty_parallel_checks_never_pass_a_limit_of_five(app):
    def work(n: int) -> bool:
        with app.app_context():
            try:
                allowed = ratelimit.allow("parallel", "one-key", LIMIT, HOUR)
                db.session.commit()
                return allowed
            finally:
                db.session.remove()

    assert Counter(_in_parallel(PARALLEL, work)) == {True: LIMIT, False: PARALLEL - LIMIT}
    with app.app_context():
        assert db.session.scalar(select(RateLimitCounter.hits)) == PARALLEL


def test_a_free_attempt_is_not_refused_because_a_parallel_one_read_the_clock_a_moment_later(app):
    """Two requests read the clock in one order and reach the database in the other: the free attempts
    are free for both (measured when parallel sign-ins on a busy machine got one free attempt too few)."""
    schedule = ratelimit.delays(LIMIT, timedelta(minutes=1), timedelta(minutes=15))
    earlier = utcnow()
    with app.app_context():
        later = ratelimit.attempt(
            "parallel", "one-key", schedule, forget_after=HOUR, now=earlier + timedelta(seconds=1)
        )
        first = ratelimit.attempt("parallel", "one-key", schedule, forget_after=HOUR, now=earlier)
        db.session.commit()
    assert later.allowed and first.allowed


def test_forty_parallel_attempts_pass_only_the_free_ones(app):
    schedule = ratelimit.delays(LIMIT, timedelta(minutes=1), timedelta(minutes=15))

    def work(n: int) -> bool:
        with app.app_context():
            try:
                verdict = ratelimit.attempt("parallel", "one-key", schedule, forget_after=HOUR)
                db.session.commit()
                return verdict.allowed
            finally:
                db.session.remove()

    assert Counter(_in_parallel(PARALLEL, work)) == {True: LIMIT, False: PARALLEL - LIMIT}


@pytest.fixture
def served(app, smtp_server, tmp_path):
    """The app in gunicorn (three worker processes of eight threads) on the test's database."""
    config = live_config(
        app.config["SQLALCHEMY_DATABASE_URI"],
        smtp_server.port,
        "http://webinars.test",
        ADMIN_LOGIN_FREE_ATTEMPTS=LIMIT,
        REGISTRATIONS_PER_CLIENT=LIMIT,
        # A week's window: a burst of a few seconds must not straddle the start of a new fixed window
        # (which lets a burst through twice, as ratelimit.py says), or the count would depend on the clock.
        REGISTRATIONS_PER_CLIENT_MINUTES=7 * 24 * 60,
    )
    server = gunicorn_server(config, tmp_path, workers=3, threads=8).start()
    try:
        yield server
    finally:
        server.stop()


def _forms(url: str, count: int) -> list[tuple[Visitor, str]]:
    """`count` visitors, each with its own session and the CSRF token of the form at `url`."""
    visitors = []
    for _ in range(count):
        visitor = Visitor()
        status, _headers, body = visitor.request(url)
        assert status == 200
        visitors.append((visitor, csrf_token_from_html(body)))
    return visitors


@pytest.mark.slow
def test_forty_parallel_wrong_passwords_get_five_tries(app, served):
    from tests.test_admin import make_organiser

    make_organiser(app)
    visitors = _forms(served.url + "/admin/login", PARALLEL)

    def work(n: int) -> int:
        visitor, token = visitors[n]
        data = {"email": "organiser@example.org", "password": f"wrong guess {n}", "csrf_token": token}
        return visitor.request(served.url + "/admin/login", data)[0]

    statuses = Counter(_in_parallel(PARALLEL, work))
    assert statuses == {401: LIMIT, 429: PARALLEL - LIMIT}, statuses


@pytest.mark.slow
def test_forty_parallel_registrations_from_one_client_pass_a_limit_of_five(app, served):
    from tests.test_registrations import form, make_webinar, registrations

    make_webinar(app, capacity=100)
    visitors = _forms(served.url + "/webinars/tax-talk", PARALLEL)

    def work(n: int) -> int:
        visitor, token = visitors[n]
        data = form(email=f"person{n}@example.com", csrf_token=token)
        return visitor.request(served.url + "/webinars/tax-talk/register", data)[0]

    statuses = Counter(_in_parallel(PARALLEL, work))
    assert statuses == {303: LIMIT, 429: PARALLEL - LIMIT}, statuses
    assert len(registrations(app)) == LIMIT


# -- what a throttled client sees -------------------------------------------------------------------


def _is_site_page(response) -> bool:
    page = response.get_data(as_text=True)
    return "Too many requests" in page and 'class="site-footer"' in page and "Back to the list of webinars" in page


@pytest.mark.app_config(REGISTRATIONS_PER_CLIENT=2, REGISTRATIONS_PER_CLIENT_MINUTES=10)
def test_a_client_over_the_registration_limit_gets_a_429_page_with_retry_after(app):
    from tests.test_registrations import form, make_webinar, register, registrations

    make_webinar(app, capacity=50)
    office = app.test_client()
    assert [register(office, form(email=f"colleague{n}@example.com")).status_code for n in range(2)] == [303, 303]
    response = register(office, form(email="one-too-many@example.com"))
    assert response.status_code == 429
    assert _is_site_page(response)
    assert 0 < int(response.headers["Retry-After"]) <= 600
    assert len(registrations(app)) == 2
    # Another client is not affected.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.20"
    assert register(elsewhere, form(email="one-too-many@example.com")).status_code == 303


@pytest.mark.app_config(NEWSLETTER_SIGNUPS_PER_CLIENT=1)
def test_a_client_over_the_newsletter_limit_gets_a_429_page_with_retry_after(app):
    from tests._support.forms import post_form

    client = app.test_client()
    assert post_form(client, "/newsletter", {"email": "a@example.org", "consent": "y"}).status_code == 303
    response = post_form(client, "/newsletter", {"email": "b@example.org", "consent": "y"})
    assert response.status_code == 429
    assert _is_site_page(response)
    assert 0 < int(response.headers["Retry-After"]) <= 3600
