"""Errors as RFC 9457 problem details, mapped from exception classes in one table."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from terrascan.api.observability import current_request_id
from terrascan.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServiceUnavailableError,
    StorageError,
    TerraScanError,
    TooLargeError,
    UnsupportedFormatError,
    UpstreamError,
)

logger = logging.getLogger("terrascan.api")

PROBLEM_JSON = "application/problem+json"

#: The one table from exception class to HTTP status (the first match along the MRO wins).
STATUS_CODES: dict[type[TerraScanError], int] = {
    InvalidInputError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    PermissionDeniedError: 403,
    AuthenticationError: 401,
    RateLimitedError: 429,
    TooLargeError: 413,
    UnsupportedFormatError: 415,
    StorageError: 503,
    ServiceUnavailableError: 503,
    UpstreamError: 502,
    ConfigurationError: 500,
}


def status_for(exc: TerraScanError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def problem(request: Request, status: int, detail: str | None = None, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem details response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "instance": request.url.path,
        "request_id": current_request_id(),
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _terrascan_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TerraScanError)
    status = status_for(exc)
    if status >= 500:
        logger.error("request failed: %s", exc, exc_info=exc)
        return problem(request, status, exc.title)
    response = problem(request, status, str(exc) or exc.title)
    if isinstance(exc, RateLimitedError):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Echo where and why, never the submitted value (it may be a password or a megabyte).
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return problem(request, 422, "The request is not valid.", errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    response = problem(request, exc.status_code, detail)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error", exc_info=exc)
    return problem(request, 500, "An unexpected error occurred.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TerraScanError, _terrascan_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
