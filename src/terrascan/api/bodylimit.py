"""Request bodies over their cap answer a 413 problem document.

Routers set ``max_body_size`` (FastAPI/Starlette's own limiter, which refuses a declared
``Content-Length`` before reading and counts the bytes of a chunked body). When the declared
length is over the cap, Starlette answers in plain text from beneath the exception handlers; this
middleware turns that answer into the same RFC 9457 problem document as every other error.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from terrascan.api.errors import PROBLEM_JSON
from terrascan.api.observability import current_request_id


class TooLargeAsProblem:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def send_problem(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # drop the plain-text body
            if message["type"] == "http.response.start" and message["status"] == 413:
                content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
                if content_type.startswith("text/plain"):
                    replaced = True
                    await _send_problem(scope, send)
                    return
            await send(message)

        await self.app(scope, receive, send_problem)


async def _send_problem(scope: Scope, send: Send) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Content Too Large",
            "status": 413,
            "instance": scope.get("path", ""),
            "request_id": current_request_id(),
            "detail": "The request body is larger than this route accepts.",
        }
    ).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
