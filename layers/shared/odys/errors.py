"""RFC 9457 problem details with stable machine-readable codes.

Every error the API returns is one of these. Services raise them; the HTTP layer
(`odys.http`) renders them as ``application/problem+json``::

    raise NotFound("appointment")            # 404, code "not_found"
    raise Conflict("slot_taken", "That time was just booked by someone else.")
    raise PlanLimitReached("clients", current_plan="free", required_plan="basic")

A problem body looks like::

    {"type": "https://odys.com.br/problems/slot_taken", "title": "Conflict",
     "status": 409, "detail": "...", "code": "slot_taken"}
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://odys.com.br/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class Problem(Exception):
    """Base class: an error with an HTTP status, a stable ``code`` and a human ``detail``."""

    status: int = 500
    title: str = "Internal Server Error"
    code: str = "internal_error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        if code:
            self.code = code
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.detail)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class BadRequest(Problem):
    status, title, code = 400, "Bad Request", "bad_request"


class ValidationFailed(Problem):
    """422: the request was well-formed but a field is invalid. ``errors`` lists each field."""

    status, title, code = 422, "Unprocessable Content", "validation_error"


class UnsupportedMediaType(Problem):
    """415: the body is not declared ``application/json``."""

    status, title, code = 415, "Unsupported Media Type", "unsupported_media_type"


class PayloadTooLarge(Problem):
    """413: the request body is over the route's limit (refused before it is read)."""

    status, title, code = 413, "Content Too Large", "payload_too_large"


class Unauthorized(Problem):
    status, title, code = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="odys"'})
        super().__init__(detail or "A valid bearer token is required.", **kw)


class Forbidden(Problem):
    status, title, code = 403, "Forbidden", "forbidden"


class NotFound(Problem):
    status, title, code = 404, "Not Found", "not_found"

    def __init__(self, what: str = "resource", detail: str | None = None, **kw: Any) -> None:
        super().__init__(detail or f"No {what} with that identifier.", **kw)


class OnboardingRequired(NotFound):
    """404 ``onboarding_required``: the authenticated user has no professional profile yet."""

    def __init__(self) -> None:
        super().__init__("professional", detail="This user has no professional profile yet: create it with "
                         "POST /api/account.", code="onboarding_required")


class Conflict(Problem):
    status, title, code = 409, "Conflict", "conflict"

    def __init__(self, code: str = "conflict", detail: str | None = None, **kw: Any) -> None:
        super().__init__(detail, code=code, **kw)


class PlanLimitReached(Problem):
    """402: creating this row would exceed the plan; names the plan that allows it."""

    status, title, code = 402, "Payment Required", "plan_limit_reached"

    def __init__(self, limit: str, *, current_plan: str, required_plan: str | None, detail: str | None = None) -> None:
        super().__init__(
            detail
            or (
                f"Your {current_plan} plan does not allow more {limit}."
                + (f" Upgrade to {required_plan} to continue." if required_plan else "")
            ),
            extra={"limit": limit, "currentPlan": current_plan, "requiredPlan": required_plan},
        )


class RateLimited(Problem):
    status, title, code = 429, "Too Many Requests", "rate_limited"


class ServiceUnavailable(Problem):
    status, title, code = 503, "Service Unavailable", "service_unavailable"


# --- domain conflicts raised by the data access (odys.store) when a database constraint refuses a write ---------

class SlotTaken(Conflict):
    """409 ``slot_taken``: another active appointment overlaps (the exclusion constraint ``appointments_no_overlap``)."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__("slot_taken", detail or "Another active appointment overlaps that time.")


class ClientExists(Conflict):
    """409 ``client_exists``: the professional already has a client with this phone; ``clientId`` names them."""

    def __init__(self, client_id: str | None = None) -> None:
        super().__init__("client_exists", "You already have a client with this phone number.",
                         extra={"clientId": client_id})


class OverlappingWindows(ValidationFailed):
    """422 ``overlapping_windows``: two availability windows of one day overlap (``availability_no_overlap``)."""

    code = "overlapping_windows"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        super().__init__(detail or "Availability windows of the same day may not overlap.", **kw)
