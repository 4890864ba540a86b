"""Newsletter pages (placeholder until the newsletter issue lands)."""

from flask import Blueprint, render_template

blueprint = Blueprint("newsletter", __name__, url_prefix="/newsletter")


@blueprint.get("")
def signup():
    return render_template("newsletter/coming_soon.html")
