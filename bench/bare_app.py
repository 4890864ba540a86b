"""The bare baseline: Flask + Flask-SQLAlchemy doing the least a page or a form can do.

GET /      reads 20 webinars (one indexed query) and renders a template with a layout.
POST /insert inserts one row from two form fields and commits.

Served with the same gunicorn settings and on the same database as the product, so the ratios
measure what the product's own work costs, not the machine.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, render_template, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


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
