"""`flask --app webinars mail ...`: deliver the outbox once, run a worker, show the queue and what failed."""

import signal
import threading

import click
from flask.cli import with_appcontext
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..extensions import db
from ..labels import label


@click.group("mail", help="Outgoing mail.")
def mail_group():
    pass


@mail_group.command("send")
@click.option("--loop", is_flag=True, help="Keep running as a worker until SIGTERM or Ctrl-C.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds to sleep when there is nothing to send.")
@with_appcontext
def send(loop: bool, poll: float):
    """Deliver the queued messages that are due (over SMTP, or as .eml files without MAIL_SERVER)."""
    from flask import current_app

    from .sender import deliver_due, run_worker

    if not current_app.config.get("MAIL_SERVER"):
        click.echo(
            _("MAIL_SERVER is not set: writing messages to %(folder)s", folder=current_app.config["MAIL_OUTBOX_DIR"]),
            err=True,
        )
    if not loop:
        click.echo(str(deliver_due()))
        return

    stop = threading.Event()

    def _stop(signum, frame):
        # Finish the message in flight, give the rest of the batch back, then exit.
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        click.echo(_("Mail worker running; stop with Ctrl-C or SIGTERM."), err=True)
        run_worker(stop, poll_seconds=poll, echo=click.echo)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(_("Mail worker stopped."), err=True)


@mail_group.command("status")
@with_appcontext
def status():
    """How many messages are in each state."""
    from .models import OutboxMessage

    rows = db.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status).order_by(OutboxMessage.status)
    ).all()
    if not rows:
        click.echo(_("The outbox is empty."))
    for state, count in rows:
        click.echo(f"{label('message', state):<11} {count}")


@mail_group.command("failed")
@with_appcontext
def failed():
    """Messages not delivered (failed, or refused once and waiting for another try), with the reason."""
    from .queries import undelivered

    rows = undelivered()
    if not rows:
        click.echo(_("Every message so far was delivered or is on its way."))
    for row in rows:
        click.echo(
            f"{row.id}\t{label('message', row.status)}\t{label('message_kind', row.kind)}\t{row.to_address}\t"
            f"{row.last_error or ''}"
        )


@mail_group.command("retry")
@click.argument("message_ids", nargs=-1, type=int, required=True)
@with_appcontext
def retry(message_ids: tuple[int, ...]):
    """Queue failed messages again (see `mail failed`), e.g. after the mail server was fixed."""
    from ..database import utcnow
    from .operations import requeue_failed

    for message_id in message_ids:
        if requeue_failed(message_id, now=utcnow()):
            click.echo(_("Message %(id)s is queued again.", id=message_id))
        else:
            click.echo(_("Message %(id)s is not a failed message; left as it is.", id=message_id), err=True)
    db.session.commit()
