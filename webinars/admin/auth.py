"""Flask-Login wiring for organisers."""

from ..extensions import db, login_manager
from .models import Organiser


@login_manager.user_loader
def load_organiser(user_id: str) -> Organiser | None:
    if not user_id.isdigit():
        return None
    organiser = db.session.get(Organiser, int(user_id))
    return organiser if organiser is not None and organiser.active else None
