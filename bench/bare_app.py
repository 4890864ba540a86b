"""The bare baseline: Flask + Flask-SQLAlchemy doing the least a page or a form can do.

GET /             reads 20 webinars (one indexed query) and renders a template with a layout.
GET /item/<slug>  the single-item page: one webinar's row and its children (agenda with speakers,
                  partners), rendered naively into a page of the webinar page's weight (a zone
                  picker and a form with a zone list, as the product's page has).
POST /insert      inserts one row from two form fields and commits.

Served with the same gunicorn settings and on the same database as the product, so the ratios
measure what the product's own work costs, not the machine.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytz
from flask import Flask, abort, render_template, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, ForeignKey, Integer, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class BareWebinar(db.Model):
    """The product's `webinars` table, a few columns of it."""

    __tablename__ = "webinars"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(String)
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(20))


class BareSpeaker(db.Model):
    __tablename__ = "speakers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(300))
    organisation: Mapped[str] = mapped_column(String(300))


class BareSectionSpeaker(db.Model):
    __tablename__ = "agenda_section_speakers"

    section_id: Mapped[int] = mapped_column(ForeignKey("agenda_sections.id"), primary_key=True)
    speaker_id: Mapped[int] = mapped_column(ForeignKey("speakers.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class BareSection(db.Model):
    __tablename__ = "agenda_sections"

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(String)
    speakers: Mapped[list[BareSpeaker]] = relationship(secondary="agenda_section_speakers", viewonly=True)


class BarePartner(db.Model):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    webinar_id: Mapped[int] = mapped_column(ForeignKey("webinars.id"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(String)


class BareItem(db.Model):
    """The same `webinars` table again, with the children a webinar page shows."""

    __tablename__ = "webinars"
    __table_args__ = {"extend_existing": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    description: Mapped[str] = mapped_column(String)
    timezone: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(300))
    sections: Mapped[list[BareSection]] = relationship(order_by=BareSection.position, viewonly=True)
    partners: Mapped[list[BarePartner]] = relationship(order_by=BarePartner.position, viewonly=True)


class BareRow(db.Model):
    __tablename__ = "bench_bare_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=lambda: datetime.now(UTC).replace(tzinfo=None))


def database_url() -> str:
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_app(url: str | None = None) -> Flask:
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
    app.config["SQLALCHEMY_DATABASE_URI"] = url or database_url()
    db.init_app(app)

    @app.get("/")
    def page():
        rows = db.session.scalars(
            select(BareWebinar)
            .where(BareWebinar.status == "published")
            .order_by(BareWebinar.starts_at.desc())
            .limit(20)
        ).all()
        return render_template("bare.html", webinars=rows)

    zones = pytz.common_timezones

    @app.get("/item/<slug>")
    def item(slug):
        webinar = db.session.scalar(select(BareWebinar).where(BareWebinar.slug == slug))
        if webinar is None:
            abort(404)
        children = db.session.scalar(
            select(BareItem)
            .where(BareItem.id == webinar.id)
            .options(
                selectinload(BareItem.sections).selectinload(BareSection.speakers), selectinload(BareItem.partners)
            )
        )
        return render_template("item.html", webinar=webinar, item=children, zones=zones)

    @app.post("/insert")
    def insert():
        db.session.add(BareRow(name=request.form["name"], email=request.form["email"]))
        db.session.commit()
        return "inserted\n", 201

    return app


def create_table(url: str) -> None:
    """The table POST /insert writes to, made once before the servers start."""
    app = create_app(url)
    with app.app_context():
        BareRow.__table__.create(db.engine, checkfirst=True)
        db.engine.dispose()
