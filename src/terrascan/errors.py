"""The exception tree. Every error TerraScan raises on purpose derives from TerraScanError.

The API maps these classes to HTTP status codes in one table (``terrascan.api.errors``); the
command line maps them to usage errors. This module imports nothing of ours.
"""

from __future__ import annotations


class TerraScanError(Exception):
    """Root of TerraScan's errors. ``title`` is a short, stable summary for problem details."""

    title = "TerraScan error"


class InvalidInputError(TerraScanError, ValueError):
    """The caller gave a value that cannot be used (bad band name, mismatched grids, ...)."""

    title = "Invalid input"


class NotFoundError(TerraScanError, LookupError):
    """The object does not exist, or belongs to another organisation."""

    title = "Not found"


class ConflictError(TerraScanError):
    """The request conflicts with the current state (duplicate email, wrong job status, ...)."""

    title = "Conflict"


class PermissionDeniedError(TerraScanError):
    """The caller is known but their role does not allow this action."""

    title = "Forbidden"


class AuthenticationError(TerraScanError):
    """Missing, expired or invalid credentials."""

    title = "Unauthorized"


class RateLimitedError(TerraScanError):
    """Too many attempts; ``retry_after`` says how many seconds to wait."""

    title = "Too many requests"

    def __init__(self, message: str = "too many requests", *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class TooLargeError(TerraScanError):
    """A declared size (pixels, bytes, vertices) is over its budget."""

    title = "Payload too large"


class UnsupportedFormatError(TerraScanError):
    """The input's format is not one TerraScan accepts."""

    title = "Unsupported media type"


class StorageError(TerraScanError):
    """The object store failed or is unreachable."""

    title = "Storage unavailable"


class ServiceUnavailableError(TerraScanError):
    """A dependency (database, broker, object store) is unavailable."""

    title = "Service unavailable"


class UpstreamError(ServiceUnavailableError):
    """An outside service TerraScan calls (a STAC API) failed or answered something unusable."""

    title = "Bad gateway"


class ConfigurationError(TerraScanError):
    """Settings that cannot work (a default secret in production, a bad URL, ...)."""

    title = "Configuration error"


class UnsafeEnvironmentError(ConfigurationError):
    """GDAL/PROJ are configured in a way that would let input reach files or the network."""

    title = "Unsafe environment"
