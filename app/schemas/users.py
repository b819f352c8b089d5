"""User schemas: the password hash has no field in any output model, so it can never reach a response."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ValidationInfo, field_validator

from app.core.security import WeakPasswordError, check_password_rules
from app.models.users import Role
from app.schemas.common import Email, InputModel, OutputModel, Password, Username


class _PasswordChecked(InputModel):
    """Bodies carrying a new password: the rules run at validation time, so a weak one is a 422."""

    @field_validator("password", check_fields=False)
    @classmethod
    def _password_rules(cls, password: str | None, info: ValidationInfo) -> str | None:
        # `email` is declared before `password`, so it is already in info.data when given.
        if password is not None:
            try:
                check_password_rules(password, email=info.data.get("email"))
            except WeakPasswordError as error:
                raise ValueError(str(error)) from None
        return password


class UserBase(InputModel):
    email: Email
    username: Username


class UserSignup(UserBase, _PasswordChecked):
    """Public signup: no role field exists, so a body carrying one is rejected (extra="forbid")."""

    password: Password


class UserCreate(UserBase, _PasswordChecked):
    """Admin-created users, with a role."""

    password: Password
    role: Role = Role.viewer
    is_active: bool = True


class UserUpdate(_PasswordChecked):
    email: Email | None = None
    username: Username | None = None
    password: Password | None = None
    role: Role | None = None
    is_active: bool | None = None


class UserPublic(OutputModel):
    id: uuid.UUID
    email: str
    username: str
    role: Role
    is_active: bool
    created_at: datetime
    updated_at: datetime
