"""API errors rendered as ``Status`` objects, the way kube-apiserver renders them."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered to the client as a ``metav1.Status`` body."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def qualified(rt, name_kind: str = "plural") -> str:
    """``consumers.tollgate.dev`` / ``secrets`` as the API server names a resource in messages."""
    base = rt.plural if name_kind == "plural" else rt.kind
    return f"{base}.{rt.group}" if rt.group else base


def not_found(rt, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified(rt)} "{name}" not found',
        {"name": name, "group": rt.group, "kind": rt.plural},
    )


def already_exists(rt, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(rt)} "{name}" already exists',
        {"name": name, "group": rt.group, "kind": rt.plural},
    )


def conflict(rt, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(rt)} "{name}": {why}',
        {"name": name, "group": rt.group, "kind": rt.plural},
    )


def stale(rt, name: str) -> ApiError:
    return conflict(
        rt,
        name,
        "the object has been modified; please apply your changes to the latest version and try again",
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


class FieldError:
    """One cause of a 422 Invalid answer (``field.Error`` in the API server)."""

    def __init__(self, field: str, reason: str, detail: str):
        self.field = field
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}" if self.field else self.detail

    def __repr__(self) -> str:
        return f"FieldError({self})"


def invalid(rt, name: str, errors: list[FieldError]) -> ApiError:
    """422 Invalid with the message layout of ``apierrors.NewInvalid``."""
    kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    if len(errors) == 1:
        summary = str(errors[0])
    else:
        summary = "[" + ", ".join(str(e) for e in errors) + "]"
    return ApiError(
        422,
        "Invalid",
        f'{kind} "{name}" is invalid: {summary}',
        {
            "name": name,
            "group": rt.group,
            "kind": rt.kind,
            "causes": [{"reason": e.reason, "message": e.detail, "field": e.field} for e in errors],
        },
    )
