"""The newsletter: double opt-in, preferences, one-click unsubscribe, campaigns, the digest.

`init_app` plugs it in when the app is built: its pages, the renderers of its messages (campaigns,
digests and the sign-up's confirmation) and their housekeeping go to the outbox, and it starts the
double opt-in when a registrant asks for the newsletter (signals.newsletter_requested).
"""

from flask import Flask


def init_app(app: Flask) -> None:
    from .. import signals
    from ..outbox import register_idle_hook, register_renderer
    from . import campaigns, digest, operations, routes

    app.register_blueprint(routes.blueprint)
    register_renderer(app, "campaign", campaigns.campaign_message_bytes, on_failure=campaigns.campaign_failed)
    register_renderer(app, "campaign_test", campaigns.render_campaign_test)
    register_renderer(app, "digest", digest.digest_message_bytes)
    for kind in ("newsletter_confirm", "newsletter_already"):
        register_renderer(app, kind, operations.render_signup_message)
    # While the mail worker is idle: finish an interrupted expansion, mark delivered campaigns and
    # digests done.
    register_idle_hook(app, operations.tend_campaigns)
    # Scheduled campaigns leave at their time: each is claimed by one worker, which queues its recipients.
    register_idle_hook(app, operations.start_due_campaigns)
    register_idle_hook(app, digest.tend_digests)
    signals.connect(signals.newsletter_requested, operations.on_newsletter_requested)
