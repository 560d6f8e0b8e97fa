"""The errors the service raises on purpose, in the service's own terms.

Services and repositories raise these; they know nothing of HTTP. `core/errors.py` maps each
class to a status code and the one JSON error envelope{% if cookiecutter.use_playwright %}, and the web UI to its own pages{% endif %}.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class; `code` is the stable machine-readable name clients see in the envelope."""

    code: str = "internal_error"
    message: str = "Internal server error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.message
        super().__init__(self.message)


class NotFoundError(ServiceError):
    code = "not_found"
    message = "Resource not found"


class ConflictError(ServiceError):
    code = "conflict"
    message = "Resource already exists"


class AuthenticationError(ServiceError):
    code = "not_authenticated"
    message = "Missing, invalid or expired credentials"


class InvalidAccessTokenError(AuthenticationError):
    """A bearer token was sent, but it is invalid or expired, or its session has ended.

    Its 401 says `error="invalid_token"` (RFC 6750), so a client knows to refresh or log in again.
    """


class InvalidCredentialsError(AuthenticationError):
    code = "invalid_credentials"
    message = "Incorrect email or password"


class IdempotencyKeyReusedError(ServiceError):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used for a request with another body"


class VersionMismatchError(ServiceError):
    code = "version_mismatch"
    message = "The item changed since you read it: read it again for its current version"


class InvalidCodeError(ServiceError):
    code = "invalid_code"
    message = "The code is incorrect or was already used"


class InvalidTokenError(ServiceError):
    code = "invalid_token"
    message = "The link or token is invalid, expired or already used"


class PermissionDeniedError(ServiceError):
    code = "forbidden"
    message = "Your role does not allow this"


class EmailNotVerifiedError(PermissionDeniedError):
    code = "email_not_verified"
    message = "Verify your e-mail address first (see the link we sent, or ask for a new one)"


class RateLimitedError(ServiceError):
    code = "too_many_requests"
    message = "Too many attempts: try again later"

    def __init__(self, retry_after_seconds: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = max(1, retry_after_seconds)


class AccountLockedError(RateLimitedError):
    code = "account_locked"
    message = "Too many failed logins: the account is temporarily locked"


class DependencyUnavailableError(ServiceError):
    """A service the request needs (database, broker, ...) cannot be reached right now."""

    code = "service_unavailable"
    message = "A dependency of the service is unavailable: try again shortly"


class DatabaseUnavailableError(DependencyUnavailableError):
    code = "database_unavailable"
    message = "The database is unavailable: try again shortly"
