"""Request and response bodies of API v1 (with the examples shown in the OpenAPI docs)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    JsonValue,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from ...core.password_policy import MAX_LENGTH, MIN_LENGTH, password_problem
from ...db.models import Role


def _acceptable_password(password: str) -> str:
    problem = password_problem(password)
    if problem is not None:
        raise ValueError(f"Password {problem}")
    return password


# Shown in the API docs; the scanners' markers say so.
EXAMPLE_PASSWORD = "a long and unusual passphrase"  # noqa: S105  # nosec B105  # pragma: allowlist secret
EXAMPLE_NEW_PASSWORD = "another long passphrase"  # noqa: S105  # nosec B105  # pragma: allowlist secret
EXAMPLE_TOKEN = "eyJhbGciOi..."  # noqa: S105  # nosec B105
BEARER: Final = "bearer"  # the OAuth2 token type


def _mailable(address: str) -> str:
    # Mail libraries decode a MIME encoded word ("=?utf-8?q?mallory?=") in the To header, so such
    # an address would get its links delivered to another mailbox.
    if "=?" in address:
        raise ValueError('E-mail address must not contain "=?" (mail programs read it as an encoded word)')
    return address.lower()


# email-validator normalises the address: an internationalised domain to Unicode (from punycode,
# full-width characters folded), the local part to NFC. Then it is lower-cased: one account per mailbox.
Email = Annotated[EmailStr, AfterValidator(_mailable)]
_EMAIL: Final = TypeAdapter(Email)


def login_email(typed: str) -> str:
    """The address as registration stored it, whatever form the login sent: a browser's type=email
    field sends an internationalised domain in punycode, some keyboards decomposed accents (NFD).
    Text that is no (acceptable) address is only stripped and lower-cased: the login then fails as
    for an unknown account, or finds one registered before a rule was added."""
    try:
        return _EMAIL.validate_python(typed.strip())
    except ValidationError:
        return typed.strip().lower()


Password = Annotated[
    str,
    AfterValidator(_acceptable_password),
    Field(
        description=f"{MIN_LENGTH} to {MAX_LENGTH} characters, not a common password",
        json_schema_extra={"minLength": MIN_LENGTH, "maxLength": MAX_LENGTH},
    ),
]
# PostgreSQL's text cannot hold NUL, so no stored or searched text may contain one.
WITHOUT_NUL = r"^[^\x00]*$"
# Characters that show nothing: controls (Cc), format characters (Cf: zero-width space, byte order
# mark, ...) and space, line and paragraph separators (Zs, Zl, Zp).
INVISIBLE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
# The same characters of the Basic Multilingual Plane (Unicode 14) as a character class, for the
# pattern: JSON Schema's regular expressions have no Unicode categories.
INVISIBLE_BMP: Final = (
    r"\x00-\x20\x7f-\xa0\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u1680\u180e"
    r"\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2066-\u206f\u3000\ufeff\ufff9-\ufffb"
)


def _visible(title: str) -> str:
    # Beyond the pattern: format characters outside the BMP (tags, musical formatting) and ones of
    # later Unicode versions.
    if all(unicodedata.category(character) in INVISIBLE_CATEGORIES for character in title):
        raise ValueError("Title must contain a visible character")
    return title


# The schema's pattern tells clients (and the fuzz tests) what the server checks: one visible
# character (stripping the blanks around it must leave something to see), no NUL anywhere. The
# server checks it in steps, for clearer messages: NUL, then length after stripping, then _visible.
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=WITHOUT_NUL),
    AfterValidator(_visible),
    Field(json_schema_extra={"pattern": rf"^[^\x00]*[^{INVISIBLE_BMP}][^\x00]*$"}),
]
Description = Annotated[str, StringConstraints(max_length=2000, pattern=WITHOUT_NUL)]


class Registration(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "ada@example.com", "password": EXAMPLE_PASSWORD}]}
    )

    email: Email
    password: Password


EXAMPLE_USER: dict[str, JsonValue] = {
    "id": 1,
    "email": "ada@example.com",
    "role": "member",
    "email_verified": True,
    "two_factor_enabled": False,
    "created_at": "2025-01-01T12:00:00Z",
}


class UserRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_USER]})

    id: int
    email: str
    role: Role
    email_verified: bool
    two_factor_enabled: bool
    created_at: datetime


# A login session's id: a random UUID's 32 hex digits, as listed and as taken back in paths.
SESSION_ID = "[0-9a-f]{32}"

# An `Idempotency-Key` (1 to 255 characters): printable ASCII without spaces.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]+$"
IDEMPOTENCY_KEY_MAX_LENGTH = 255


class SessionRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9f1c2d3e4b5a69788796a5b4c3d2e1f0",  # pragma: allowlist secret
                    "created_at": "2025-01-01T12:00:00Z",
                    "last_used_at": "2025-01-03T08:30:00Z",
                    "client_ip": "203.0.113.7",
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
                    "current": True,
                }
            ]
        }
    )

    id: str = Field(pattern=f"^{SESSION_ID}$")
    created_at: datetime
    last_used_at: datetime = Field(
        description="When it last logged in or renewed its tokens (a client renews them as its access token runs out)"
    )
    client_ip: str | None = Field(description="The address the login came from")
    user_agent: str | None = Field(description="The client that logged in, cut to 256 characters")
    current: bool = Field(description="The session of this request")


class PasswordChange(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"current_password": EXAMPLE_PASSWORD, "new_password": EXAMPLE_NEW_PASSWORD}]}
    )

    current_password: str = Field(max_length=MAX_LENGTH)
    new_password: Password


# Single-use tokens from links, and codes from an authenticator or the recovery list. Codes are not
# stripped here: the second-factor check ignores blanks anywhere ("123 456" as apps show it), so
# the schema's length limits are exactly the ones the server applies.
AccountToken = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Code = Annotated[str, StringConstraints(min_length=6, max_length=32)]
EXAMPLE_CODE = "123456"
EXAMPLE_LINK_TOKEN = "kQ0u4hLr5QbZ..."  # noqa: S105  # nosec B105


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ada@example.com"}]})

    email: Email


class PasswordReset(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"token": EXAMPLE_LINK_TOKEN, "new_password": EXAMPLE_NEW_PASSWORD}]}
    )

    token: AccountToken
    new_password: Password


class EmailVerification(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"token": EXAMPLE_LINK_TOKEN}]})

    token: AccountToken


class TwoFactorEnrolment(BaseModel):
    secret: str = Field(description="Base32 secret, for authenticator apps that cannot read the QR code")
    otpauth_uri: str = Field(description="The otpauth:// URI the QR code holds")
    qr_code_svg: str = Field(description="The QR code of `otpauth_uri` as an SVG document")


class TwoFactorCode(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"code": EXAMPLE_CODE}]})

    code: Code


class PasswordConfirmation(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"password": EXAMPLE_PASSWORD}]})

    password: str = Field(max_length=MAX_LENGTH)


class TwoFactorConfirmation(PasswordConfirmation):
    """The password and a current code (or a recovery code)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"password": EXAMPLE_PASSWORD, "code": EXAMPLE_CODE}]})

    code: Code


class OwnerConfirmation(PasswordConfirmation):
    """The password, and a current code (or a recovery code) when two-factor login is on."""

    code: Code | None = None


class AccountDeletion(OwnerConfirmation):
    """The password, and a current code (or a recovery code) when two-factor login is on."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"password": EXAMPLE_PASSWORD}]})


class EmailChange(OwnerConfirmation):
    """The new address, with the password, and a code when two-factor login is on."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"new_email": "ada@example.org", "password": EXAMPLE_PASSWORD}]}
    )

    new_email: Email


class EmailChangeConfirmation(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"token": EXAMPLE_LINK_TOKEN}]})

    token: AccountToken


class TwoFactorStatusRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"enabled": True, "recovery_codes_left": 8}]})

    enabled: bool
    recovery_codes_left: int = Field(description="Unused recovery codes (0 when two-factor login is off)")


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="Single-use codes for when the authenticator is lost; shown once")


class SecondFactorChallenge(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"mfa_required": True, "mfa_token": EXAMPLE_LINK_TOKEN}]},
        json_schema_serialization_defaults_required=True,  # always sent: required in the response schema
    )

    mfa_required: Literal[True] = True
    mfa_token: str = Field(description="Send it with a code to /api/v1/auth/mfa; it expires in minutes")


class SecondFactorLogin(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"mfa_token": EXAMPLE_LINK_TOKEN, "code": EXAMPLE_CODE}]})

    mfa_token: AccountToken
    code: Code


class AdminUserRead(UserRead):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_USER | {"is_active": True}]})

    is_active: bool


class AdminUserUpdate(BaseModel):
    """Only the fields sent are changed; either change ends every session of the user."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"is_active": False}, {"role": "admin"}]})

    # Optional but never null, as ItemUpdate's title.
    role: Role | SkipJsonSchema[None] = None
    is_active: bool | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _no_nulls(self) -> AdminUserUpdate:
        if any(getattr(self, name) is None for name in self.model_fields_set):
            raise ValueError("role and is_active cannot be null")
        return self


class AuditEventRead(BaseModel):
    id: int
    occurred_at: datetime
    actor_id: int | None
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    detail: str | None = Field(
        description="What the action set, where its name alone does not say: the new role of `admin.role_change`"
    )
    client_ip: str | None
    user_agent: str | None
    request_id: str | None


class TokenPair(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": EXAMPLE_TOKEN,
                    "refresh_token": EXAMPLE_TOKEN,
                    "token_type": BEARER,
                    "expires_in": 900,
                }
            ]
        },
        json_schema_serialization_defaults_required=True,  # always sent: required in the response schema
    )

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = BEARER
    expires_in: int = Field(description="Seconds until the access token expires")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(examples=[EXAMPLE_TOKEN])


class ItemCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"title": "Buy milk", "description": "Two litres, semi-skimmed"}]}
    )

    title: Title
    description: Description | None = None


class ItemUpdate(BaseModel):
    """Only the fields sent are changed."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Buy oat milk"}]})

    # Optional but never null: the schema leaves null out, the validator below refuses it.
    title: Title | SkipJsonSchema[None] = None
    description: Description | None = None

    @model_validator(mode="after")
    def _title_is_not_removed(self) -> ItemUpdate:
        if "title" in self.model_fields_set and self.title is None:
            raise ValueError("title cannot be null")
        return self


class ItemRead(BaseModel):
    id: int
    title: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    version: int = Field(
        description='Counted up by every change. To change or delete only this version, send `If-Match: "<version>"`'
    )
