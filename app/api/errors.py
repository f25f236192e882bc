"""One error shape for the whole API: `{"error": {"message": ..., "type": ...}}` with a fitting status."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

_DEFAULT_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "busy",
    413: "too_large",
    415: "unsupported_type",
    422: "bad_request",
    500: "internal_error",
    507: "disk_full",
}


class ApiError(Exception):
    """Raised anywhere under a route; rendered as the JSON error body."""

    def __init__(self, status: int, message: str, type_: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_ or _DEFAULT_TYPES.get(status, "error")


def disk_full(exc: BaseException) -> ApiError | None:
    """507 for a full disk or quota (OSError ENOSPC/EDQUOT, SQLite's "database or disk is full").

    The client did nothing wrong and retrying after space is freed works, so this is neither a 400 nor
    an anonymous 500.
    """
    import errno
    import sqlite3

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:  # the cause may be wrapped (KBError from OSError ...)
        seen.add(id(exc))
        full = (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or (
            isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower())
        if full:
            return ApiError(507, f"the server's disk is full ({exc}); free some space and try again", "disk_full")
        exc = exc.__cause__ or exc.__context__
    return None


def error_body(message: str, type_: str) -> dict:
    return {"error": {"message": message, "type": type_}}


def error_response(status: int, message: str, type_: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(message, type_ or _DEFAULT_TYPES.get(status, "error")), status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError):
        return error_response(exc.status, exc.message, exc.type)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError):
        return error_response(400, _validation_message(exc), "bad_request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return error_response(exc.status_code, detail)


def api_error(exc: Exception) -> ApiError | None:
    """The HTTP status for a knowledge-layer error (None: not a user error)."""
    from knowledge import errors as ke
    from retrieval.errors import ModelLoadError

    full = disk_full(exc)
    if full is not None:
        return full
    table = [(ke.KBNotFound, 404, "not_found"), (ke.DocumentNotFound, 404, "not_found"),
             (ke.KBExists, 409, "exists"), (ke.KBBusy, 409, "busy"), (ke.InvalidName, 400, "bad_request"),
             (ke.SettingsMismatch, 409, "settings_mismatch"), (ke.SchemaError, 500, "schema_error"),
             (ke.KBError, 400, "bad_request"), (ModelLoadError, 400, "model_unavailable"),
             (ValueError, 400, "bad_request")]
    for cls, status, kind in table:
        if isinstance(exc, cls):
            return ApiError(status, str(exc), kind)
    return None


def translated(fn=None, *, gone: bool = True):
    """Knowledge-layer errors -> ApiError, for the adapter's methods (`self`, then the KB's name).

    `gone`: a failure of a request whose KB vanished under it is reported as that, through
    `self.gone_while_running` (off for create, where the KB not existing yet is the point)."""
    import functools

    if fn is None:
        return functools.partial(translated, gone=gone)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ApiError:
            raise
        except Exception as exc:
            from knowledge.errors import KBError

            err = api_error(exc)
            owner = args[0] if args else None
            if (gone and not isinstance(exc, KBError) and (err is None or err.type == "bad_request")
                    and hasattr(owner, "gone_while_running")):
                # a KB deleted under a running request fails in odd ways (a closed handle, cache files
                # half gone: ValueError from numpy): the vanished KB is the reason to report
                err = owner.gone_while_running(args[1] if len(args) > 1 else kwargs.get("name"), exc) or err
            if err is None:
                raise
            raise err from exc
    return wrapper
