"""Content items (news, articles, publications): topic pages, a listing, item pages, Atom feeds, and the
related content of webinar pages.

`init_app` plugs it in: its pages, and its answer to signals.webinar_page (the related content a
webinar page shows, and what that depends on), so that the catalogue never imports it.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    from .. import signals
    from . import queries, routes

    app.register_blueprint(routes.blueprint)
    signals.connect(signals.webinar_page, queries.related_panel)
    signals.connect(signals.webinar_page_version, queries.related_version)
