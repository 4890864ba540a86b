"""Registration for a webinar: capacity, waitlist, confirmation, self-service cancellation, reminders.

`init_app` plugs the part into the rest when the app is built: the renderers of its emails and the
expiry of lapsed seat holds go to the outbox, and it answers the catalogue's signals (the webinar
page's registration panel, the seats a capacity must leave room for, registrants to tell about a
change or a cancellation), so that the catalogue never imports it.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    from .. import signals
    from ..outbox import register_idle_hook, register_renderer
    from . import messages, notifications, operations, routes

    app.register_blueprint(routes.blueprint)
    notifications.register_renderers(app)
    register_renderer(app, messages.KIND, messages.render_message, on_failure=messages.message_failed)
    register_renderer(app, messages.TEST_KIND, messages.render_test)
    # Organisers' messages to registrants: an interrupted expansion is finished, delivered ones marked done.
    register_idle_hook(app, messages.tend_messages)
    # The mail worker lets lapsed seat holds go (and moves the waiting list up) while it is idle.
    register_idle_hook(app, operations.expire_lapsed_holds)
    for signal, receiver in (
        (signals.webinar_page, routes.registration_panel),
        (signals.webinar_page_version, routes.panel_version),
        (signals.webinar_rescheduled, notifications.on_webinar_rescheduled),
        (signals.webinar_cancelled, notifications.on_webinar_cancelled),
        (signals.seats_taken, operations.on_seats_taken),
        (signals.seats_added, operations.on_seats_added),
    ):
        signals.connect(signal, receiver)
