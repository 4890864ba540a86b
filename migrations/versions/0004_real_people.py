"""real people: one calendar entry per registration; current zone names and ASCII mail domains

- registrations.ical_uid: each registration's own calendar UID (NULL for older rows, which keep the
  webinar's), so that registering again after cancelling is a new calendar entry.
- campaigns: status 'failed' and `error`, for a campaign whose messages cannot be built: it stops
  with the reason instead of each message being retried for hours.

Revision ID: 0004_real_people
Revises: 0003_safe_public_internet
Create Date: 2026-12-01 10:00:00.000000

Zone names and email addresses are now taken in one spelling when they enter the service
(webinars/timezones.py canonical_zone, webinars/addresses.py canonical_address). Rows stored before
are brought to the same spelling here, so that comparisons (one registration per address, the
suppression list) and pickers see one name:
- zone names: Asia/Calcutta -> Asia/Kolkata, US/Eastern -> America/New_York, utc -> UTC, ...
  (registrations.timezone, webinars.timezone, webinars.display_zones);
- email domains: marie@bücher.example -> marie@xn--bcher-kva.example (registrations, subscribers,
  suppressions, organisers, outbox_messages). Where the ASCII spelling already exists in a unique
  column, the row is left as it is (the outbox still delivers it in ASCII form).
The rules are copied here, not imported, so that this migration keeps meaning what it meant.
Downgrade drops the new column and leaves the new spellings: they are valid names and addresses
for the older code too.
"""
from importlib.resources import files

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email


# revision identifiers, used by Alembic.
revision = "0004_real_people"
down_revision = "0003_safe_public_internet"
branch_labels = None
depends_on = None


def _tz_table(name):
    text = files("pytz").joinpath("zoneinfo", name).read_text(encoding="utf-8")
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _zone_names():
    zones = {fields[1] for fields in _tz_table("tzdata.zi") if fields[0] == "Z"}
    links = {fields[2]: fields[1] for fields in _tz_table("tzdata.zi") if fields[0] == "L" and len(fields) == 3}
    located = {fields[2] for fields in _tz_table("zone.tab") if len(fields) >= 3}
    short = {"Etc/UTC": "UTC", "Etc/GMT": "GMT"}
    names = {}
    for name in (*zones, *links):
        current = name if name in zones or name in located else links[name]
        while current in links and current not in located:
            current = links[current]
        names[name.lower()] = short.get(current, current)
    return names


def _ascii_domain(address):
    local, at, domain = (address or "").rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return address
    return f"{result.local_part}@{result.ascii_domain}"


def _canonical_zones(bind, names):
    webinars = sa.table("webinars", sa.column("id", sa.Integer), sa.column("timezone", sa.String),
                        sa.column("display_zones", sa.String))
    for row in bind.execute(sa.select(webinars.c.id, webinars.c.timezone, webinars.c.display_zones)).all():
        zone = names.get((row.timezone or "").strip().lower(), row.timezone)
        shown = " ".join(dict.fromkeys(names.get(z.lower(), z) for z in (row.display_zones or "").split()))
        if (zone, shown) != (row.timezone, row.display_zones):
            bind.execute(webinars.update().where(webinars.c.id == row.id).values(timezone=zone, display_zones=shown))
    registrations = sa.table("registrations", sa.column("timezone", sa.String))
    for (stored,) in bind.execute(sa.select(registrations.c.timezone).distinct()).all():
        zone = names.get((stored or "").strip().lower())
        if zone is not None and zone != stored:
            bind.execute(registrations.update().where(registrations.c.timezone == stored).values(timezone=zone))


def _ascii_domains(bind, table_name, unique):
    """Convert the email column of one table; returns {row id: (old, new)} of what changed."""
    table = sa.table(table_name, sa.column("id", sa.Integer), sa.column("email", sa.String))
    changed = {}
    for row_id, address in bind.execute(sa.select(table.c.id, table.c.email)).all():
        spelled = _ascii_domain(address)
        if spelled == address:
            continue
        if unique and bind.execute(sa.select(table.c.id).where(table.c.email == spelled)).first() is not None:
            continue
        bind.execute(table.update().where(table.c.id == row_id).values(email=spelled))
        changed[row_id] = (address, spelled)
    return changed


def _ascii_registration_domains(bind):
    # One live registration per address and webinar (a partial unique index): never make a second one.
    table = sa.table("registrations", sa.column("id", sa.Integer), sa.column("webinar_id", sa.Integer),
                     sa.column("email", sa.String), sa.column("status", sa.String))
    for row in bind.execute(sa.select(table.c.id, table.c.webinar_id, table.c.email, table.c.status)).all():
        spelled = _ascii_domain(row.email)
        if spelled == row.email:
            continue
        if row.status not in ("cancelled", "expired"):
            twin = sa.select(table.c.id).where(
                table.c.webinar_id == row.webinar_id,
                table.c.email == spelled,
                table.c.status.not_in(("cancelled", "expired")),
            )
            if bind.execute(twin).first() is not None:
                continue
        bind.execute(table.update().where(table.c.id == row.id).values(email=spelled))


def _ascii_outbox_domains(bind, subscribers):
    table = sa.table("outbox_messages", sa.column("id", sa.Integer), sa.column("to_address", sa.String),
                     sa.column("campaign_id", sa.Integer), sa.column("subscriber_id", sa.Integer))
    # A campaign row is sent only while its address is the subscriber's: follow the subscribers' change.
    for subscriber_id, (old, new) in subscribers.items():
        bind.execute(
            table.update()
            .where(table.c.subscriber_id == subscriber_id, table.c.to_address == old)
            .values(to_address=new)
        )
    rows = sa.select(table.c.id, table.c.to_address).where(table.c.campaign_id.is_(None))
    for row_id, address in bind.execute(rows).all():
        spelled = _ascii_domain(address)
        if spelled != address:
            bind.execute(table.update().where(table.c.id == row_id).values(to_address=spelled))


def _live_email_index():
    # The partial index is dropped and created outside batch mode, so that its WHERE clause survives
    # SQLite's table copy (as in 0003).
    op.create_index(
        "uq_registrations_live_email",
        "registrations",
        ["webinar_id", "email"],
        unique=True,
        sqlite_where=sa.text("status NOT IN ('cancelled', 'expired')"),
        postgresql_where=sa.text("status NOT IN ('cancelled', 'expired')"),
    )


def upgrade():
    op.drop_index("uq_registrations_live_email", table_name="registrations")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ical_uid", sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_registrations_ical_uid"), ["ical_uid"])
    _live_email_index()

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_campaigns_status"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_campaigns_status"), "status IN ('expanding', 'sending', 'done', 'failed')"
        )

    bind = op.get_bind()
    _canonical_zones(bind, _zone_names())
    _ascii_registration_domains(bind)
    subscribers = _ascii_domains(bind, "subscribers", unique=True)
    _ascii_domains(bind, "suppressions", unique=True)
    _ascii_domains(bind, "organisers", unique=True)
    _ascii_outbox_domains(bind, subscribers)


def downgrade():
    # The older code knows no 'failed' campaign: such a campaign is over, as 'done' says.
    op.execute("UPDATE campaigns SET status = 'done' WHERE status = 'failed'")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_campaigns_status"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_campaigns_status"), "status IN ('expanding', 'sending', 'done')")
        batch_op.drop_column("error")
    op.drop_index("uq_registrations_live_email", table_name="registrations")
    with op.batch_alter_table("registrations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_registrations_ical_uid"), type_="unique")
        batch_op.drop_column("ical_uid")
    _live_email_index()
