"""An httpx transport that calls an ASGI app in-process and streams its response body as the app sends it.

httpx's own ASGITransport collects the whole body before returning, which would make time-to-first-token
equal the full latency. Here the app runs in a task and each body message reaches the reader at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx

_END = object()


class _BodyStream(httpx.AsyncByteStream):
    def __init__(self, queue: asyncio.Queue, task: asyncio.Task):
        self.queue, self.task = queue, task

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            item = await self.queue.get()
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise item
            yield item

    async def aclose(self) -> None:
        if not self.task.done():
            self.task.cancel()  # the reader left: the app sees a cancelled request, as on a dropped connection


class StreamingASGITransport(httpx.AsyncBaseTransport):
    def __init__(self, app):
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = b"".join([part async for part in request.stream])
        queue: asyncio.Queue = asyncio.Queue()
        started: asyncio.Future = asyncio.get_running_loop().create_future()
        finished = asyncio.Event()
        sent_body = False

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw], "scheme": request.url.scheme,
            "path": request.url.path, "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query, "server": (request.url.host, request.url.port or 80),
            "client": ("127.0.0.1", 0), "root_path": "",
        }

        async def receive() -> dict:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                started.set_result((message["status"], message.get("headers", [])))
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    await queue.put(message["body"])
                if not message.get("more_body", False):
                    finished.set()
                    await queue.put(_END)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc if isinstance(exc, Exception) else RuntimeError("app cancelled"))
                else:
                    await queue.put(exc if isinstance(exc, Exception) else RuntimeError("app cancelled"))
                if isinstance(exc, asyncio.CancelledError):
                    raise
            finally:
                finished.set()
                await queue.put(_END)

        task = asyncio.create_task(run())
        status, headers = await started
        return httpx.Response(status, headers=headers, stream=_BodyStream(queue, task), request=request)
