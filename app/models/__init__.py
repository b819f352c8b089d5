"""Every ORM model, imported here so `Base.metadata` is complete for Alembic and tests."""

from app.db import Base
from app.models import presentations, users, viewing
from app.models.presentations import Audience, Presentation, PresentationViewer, Slide
from app.models.users import RefreshToken, Role, User

__all__ = [
    "Audience",
    "Base",
    "Presentation",
    "PresentationViewer",
    "RefreshToken",
    "Role",
    "Slide",
    "User",
    "presentations",
    "users",
    "viewing",
]
