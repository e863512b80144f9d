"""Typed errors of the hall. Each carries a wire code and an HTTP status, mapped once."""

from __future__ import annotations


class HallError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class BadRequest(HallError):
    status = 400
    code = "bad_request"


class Invalid(HallError):
    """Well-formed input with a wrong value or type."""

    status = 422
    code = "invalid"


class Unauthorized(HallError):
    status = 401
    code = "unauthorized"


class Forbidden(HallError):
    status = 403
    code = "forbidden"


class NotFound(HallError):
    status = 404
    code = "not_found"


class Conflict(HallError):
    """The request is valid but the hall's state does not allow it now."""

    status = 409
    code = "conflict"


class TooLarge(HallError):
    status = 413
    code = "too_large"


class TooMany(HallError):
    """A source acted more often than its limit allows; it may try again after ``retry_after`` seconds."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class Unavailable(HallError):
    """The store cannot be reached; the request was not carried out."""

    status = 503
    code = "unavailable"


class IllegalTransition(Conflict):
    code = "illegal_transition"

    def __init__(self, number: str, status: str, action: str) -> None:
        super().__init__(f"ticket {number} is {status}; cannot {action}")
