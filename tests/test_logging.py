"""Logging: lines on stderr with a level and the request's id, and no token from an email's link in any
log: the app's own, werkzeug's development server's, gunicorn's access log."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from datetime import datetime

import pytest

from tests._support.live_server import LiveServer, gunicorn_server, live_config
from tests.factories import make_webinar
from webinars.database import utcnow
from webinars.extensions import db
from webinars.logs import REDACTED, redact
from webinars.newsletter import operations as newsletter
from webinars.newsletter.models import Subscriber
from webinars.registrations.models import Registration
from webinars.registrations.notifications import manage_token
from webinars.registrations.operations import register
from webinars.tokens import make_token


def _tokens(app) -> dict[str, str]:
    """A registration's manage token and a subscriber's manage and confirmation tokens."""
    with app.app_context():
        webinar = make_webinar(local_start=datetime(2030, 6, 4, 10, 0))
        registration = db.session.get(
            Registration, register(webinar, name="Ana", email="ana@example.org", now=utcnow()).id
        )
        newsletter.request_subscription("bo@example.org", "Bo", [], source="test", consent_text="yes")
        subscriber = db.session.scalar(db.select(Subscriber))
        db.session.commit()
        return {
            "registration": manage_token(registration),
            "manage": newsletter.manage_token(subscriber),
            "confirm": newsletter.confirm_token(subscriber, utcnow()),
        }


def _paths(tokens: dict[str, str]) -> list[str]:
    return [
        f"/registrations/{tokens['registration']}",
        f"/newsletter/preferences/{tokens['manage']}",
        f"/newsletter/unsubscribe/{tokens['manage']}",
        f"/newsletter/confirm/{tokens['confirm']}",
    ]


def _get(url: str, headers: dict | None = None) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers)


def test_every_route_with_a_token_in_its_path_is_redacted(sqlite_app):
    with sqlite_app.test_request_context():
        from flask import url_for

        token = make_token("anything", {"s": 1, "v": 0})
        rules = [rule for rule in sqlite_app.url_map.iter_rules() if "token" in rule.arguments]
        assert rules
        for rule in rules:
            path = url_for(rule.endpoint, token="plain-token-text")
            assert "plain-token-text" not in redact(f"GET {path} HTTP/1.1"), rule.rule
    # A signed token is redacted wherever it appears (a Referer, an error message).
    assert token not in redact(f"Referer: https://elsewhere.example/x?t={token}")


def test_application_log_lines_carry_level_and_request_id_and_no_token(app, capsys, monkeypatch):
    tokens = _tokens(app)

    def broken(*args):
        raise RuntimeError("the template blew up")

    monkeypatch.setattr("webinars.registrations.queries.waitlist_position", broken)
    capsys.readouterr()
    response = app.test_client().get(f"/registrations/{tokens['registration']}")
    assert response.status_code == 500
    request_id = response.headers["X-Request-ID"]
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if "unhandled error" in line]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ERROR \[" + request_id + r"\] webinars\.errors: ", line), line
    assert f"GET /registrations/{REDACTED}" in line
    assert "RuntimeError: the template blew up" in err  # the traceback is there, tokens are not
    assert tokens["registration"] not in err


@pytest.mark.app_config(PROXY_COUNT=1)
def test_a_trusted_proxy_passes_its_request_id_and_garbage_is_replaced(sqlite_app):
    client = sqlite_app.test_client()
    assert client.get("/", headers={"X-Request-ID": "edge-42.a"}).headers["X-Request-ID"] == "edge-42.a"
    forged = client.get("/", headers={"X-Request-ID": "x] INFO fake line"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{16}", forged)


def test_without_a_proxy_the_request_id_is_always_ours(sqlite_app):
    ids = {sqlite_app.test_client().get("/", headers={"X-Request-ID": "mine"}).headers["X-Request-ID"] for _ in "ab"}
    assert "mine" not in ids and len(ids) == 2


@pytest.mark.app_config(LOG_LEVEL="INFO")  # werkzeug logs each request at INFO
def test_werkzeugs_access_log_never_shows_a_token(sqlite_app, capsys):
    tokens = _tokens(sqlite_app)
    server = LiveServer(sqlite_app).start()
    try:
        capsys.readouterr()
        for path in _paths(tokens):
            assert _get(server.url + path)[0] == 200
    finally:
        server.stop()
    err = capsys.readouterr().err
    for path in _paths(tokens):
        assert path.rsplit("/", 1)[0] + f"/{REDACTED} HTTP/1.1" in err, err
    for token in tokens.values():
        assert token not in err


@pytest.mark.slow
def test_gunicorn_with_the_production_config_logs_request_ids_and_no_token(sqlite_app, smtp_server, tmp_path):
    config = live_config(sqlite_app.config["SQLALCHEMY_DATABASE_URI"], smtp_server.port, "http://webinars.test")
    # Tokens the served app accepts: its link key is its SECRET_KEY unless set.
    sqlite_app.config["LINK_SECRET_KEY"] = config.get("LINK_SECRET_KEY") or config["SECRET_KEY"]
    tokens = _tokens(sqlite_app)
    server = gunicorn_server(config, tmp_path, conf="python:webinars.gunicorn_conf")
    server.start()
    try:
        ids = []
        for path in _paths(tokens):
            status, headers = _get(server.url + path, {"Referer": f"http://webinars.test{path}"})
            assert status == 200
            ids.append(headers["X-Request-ID"])
    finally:
        server.stop()
    log = server.log_path.read_text()
    for path, request_id in zip(_paths(tokens), ids, strict=True):
        redacted = path.rsplit("/", 1)[0] + f"/{REDACTED}"
        assert re.search(rf'"GET {re.escape(redacted)} HTTP/1.1" 200 \d+ \d+ms request_id={request_id}', log), log
    for token in tokens.values():
        assert token not in log
