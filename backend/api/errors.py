"""Every error the API returns has one shape: {"error": {"message", "type", "code", "param"}}."""

from __future__ import annotations

import math

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from backend.accounts import AccountError
from backend.api.schemas import ErrorResponse
from backend.api.security import AuthError
from backend.chat import InvalidRequest
from backend.engines import EngineError
from backend.experiments import ExperimentError
from backend.feedback import FeedbackError
from backend.records import ConversationNotFound

DEFAULT_RETRY_AFTER_S = 5  # Retry-After of a 429/503 whose cause gave no estimate (e.g. the model server is down)


def error_response(status: int, message: str, *, type_: str, code: str | None = None, param: str | None = None,
                   headers: dict | None = None) -> JSONResponse:
    body = ErrorResponse(error={"message": message, "type": type_, "code": code, "param": param})
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


class BodyLimit:
    """ASGI middleware: refuse bodies over the limit, by Content-Length or while counting chunked bodies."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(scope, receive, send, f"request body is {int(length):,} bytes")
        seen = 0

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except BodyTooLarge:
            await self._refuse(scope, receive, send, "request body is larger than allowed")

    async def _refuse(self, scope, receive, send, what: str):
        response = error_response(413, f"{what}; the limit is {self.max_bytes:,} bytes (limits.max_body_bytes)",
                                  type_="invalid_request_error", code="max_body_bytes")
        await response(scope, receive, send)


class BodyTooLarge(HTTPException):
    # An HTTPException, so FastAPI's body parsing lets it through instead of turning it into a 400.
    def __init__(self):
        super().__init__(status_code=413)


def install_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge):
        return error_response(413, f"request body is larger than {max_body_bytes:,} bytes (limits.max_body_bytes)",
                              type_="invalid_request_error", code="max_body_bytes")

    @app.exception_handler(InvalidRequest)
    async def invalid(request: Request, exc: InvalidRequest):
        return error_response(exc.status, str(exc), type_="invalid_request_error", code=exc.code, param=exc.param)

    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError):
        # 429 and 503 always say when to come back; an engine that gave no estimate gets the default.
        retry_after = exc.retry_after or (DEFAULT_RETRY_AFTER_S if exc.status in (429, 503) else None)
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))} if retry_after else None
        type_ = {429: "rate_limit_error", 404: "invalid_request_error"}.get(exc.status, "server_error")
        return error_response(exc.status, str(exc), type_=type_, code=type(exc).__name__, headers=headers)

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        type_ = "authentication_error" if exc.status == 401 else "permission_error"
        return error_response(exc.status, str(exc), type_=type_, code=type_, headers=headers)

    @app.exception_handler(AccountError)
    async def account_error(request: Request, exc: AccountError):
        type_ = {401: "authentication_error", 429: "rate_limit_error"}.get(exc.status, "invalid_request_error")
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))} if exc.retry_after else None
        return error_response(exc.status, str(exc), type_=type_, code="account", headers=headers)

    @app.exception_handler(FeedbackError)
    async def feedback_error(request: Request, exc: FeedbackError):
        return error_response(exc.status, str(exc), type_="invalid_request_error", code="feedback",
                              param="request_id" if exc.status == 404 else None)

    @app.exception_handler(ExperimentError)
    async def experiment_error(request: Request, exc: ExperimentError):
        return error_response(exc.status, str(exc), type_="invalid_request_error", code="experiment")

    @app.exception_handler(ConversationNotFound)
    async def conversation_missing(request: Request, exc: ConversationNotFound):
        return error_response(404, str(exc), type_="invalid_request_error", code="conversation_not_found",
                              param="visiondesk.conversation_id")

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid body"}
        if first.get("type") == "json_invalid":
            # loc holds the character offset of the syntax error, not a field name.
            at = first["loc"][-1] if first["loc"] else "?"
            detail = (first.get("ctx") or {}).get("error") or first["msg"]
            return error_response(400, f"the request body is not valid JSON: {detail} at character {at}",
                                  type_="invalid_request_error", code="invalid_body")

        def field(e) -> str:
            return ".".join(str(p) for p in e["loc"] if p != "body")

        message = "; ".join(f"{field(e) or 'body'}: {e['msg']}" for e in errors[:5])
        return error_response(400, f"invalid request body: {message}", type_="invalid_request_error",
                              code="invalid_body", param=field(first) or None)
