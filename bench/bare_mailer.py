"""The bare campaign loop: one smtplib connection, an EmailMessage built and sent per recipient.

    python -m bench.bare_mailer --db URL --campaign ID --host 127.0.0.1 --port 2525 --seconds 15

Reads the campaign's subject and bodies and the subscribers (one query), then sends until the
time is up or everyone got one. Prints JSON: {"sent", "seconds", "vmhwm_kb"}. This is what the
product's sender is measured against.
"""

from __future__ import annotations

import argparse
import json
import smtplib
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from itsdangerous import URLSafeSerializer
from sqlalchemy import create_engine, text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--campaign", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    args = parser.parse_args()

    engine = create_engine(args.db)
    with engine.connect() as conn:
        subject, body_text, body_html = conn.execute(
            text("SELECT subject, body_text, body_html FROM campaigns WHERE id = :id"), {"id": args.campaign}
        ).one()
        recipients = conn.execute(
            text("SELECT id, email, name FROM subscribers WHERE status = 'subscribed' ORDER BY id")
        ).all()
    engine.dispose()

    signer = URLSafeSerializer("bare-secret", salt="manage")
    sender = "Webinars <webinars@bench.localhost>"
    sent = 0
    started = time.perf_counter()
    deadline = started + args.seconds
    with smtplib.SMTP(args.host, args.port) as smtp:
        for subscriber_id, email, name in recipients:
            link = f"{args.base_url}/newsletter/unsubscribe/{signer.dumps({'s': subscriber_id, 'v': 0})}"
            msg = EmailMessage()
            msg["From"] = sender
            msg["To"] = email
            msg["Subject"] = subject
            msg["Date"] = formatdate(localtime=False, usegmt=True)
            msg["Message-ID"] = make_msgid(domain="bench.localhost")
            msg["List-Unsubscribe"] = f"<{link}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            msg.set_content(f"Hello {name},\n\n{body_text}\n\nUnsubscribe: {link}\n")
            msg.add_alternative(
                f'<p>Hello {name},</p>{body_html}<p><a href="{link}">Unsubscribe</a></p>', subtype="html"
            )
            smtp.send_message(msg)
            sent += 1
            if time.perf_counter() >= deadline:
                break
    seconds = time.perf_counter() - started
    # VmHWM, not getrusage(): ru_maxrss carries the parent's size at fork across exec.
    status = Path("/proc/self/status").read_text().splitlines()
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"sent": sent, "seconds": seconds, "vmhwm_kb": hwm}))


if __name__ == "__main__":
    main()
