"""The in-process transport streams: the reader gets the first body chunk while the app is still producing."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from eval.ab.transport import StreamingASGITransport


def make_app(first_read: asyncio.Event) -> Starlette:
    async def stream(request):
        body = await request.json()

        async def chunks():
            yield f"data: {body['n']}\n\n"
            # Only a reader that already has the first chunk can let the app go on: a transport that buffers the
            # whole body would wait here for ever.
            await first_read.wait()
            yield "data: second\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    async def fail(request):
        return JSONResponse({"error": {"message": "nope", "code": "x"}}, status_code=404)

    async def crash(request):
        raise RuntimeError("boom")

    return Starlette(routes=[Route("/s", stream, methods=["POST"]), Route("/f", fail), Route("/c", crash)])


def test_first_chunk_arrives_before_the_app_finishes():
    async def main():
        first_read = asyncio.Event()
        async with httpx.AsyncClient(transport=StreamingASGITransport(make_app(first_read)), base_url="http://t") as c:
            async with c.stream("POST", "/s", json={"n": 7}) as resp:
                lines = resp.aiter_lines()
                first = await asyncio.wait_for(anext(lines), 30)
                first_read.set()
                rest = [line async for line in lines]
            failed = await c.get("/f")
            crashed = await c.get("/c")
        return resp.status_code, first, rest, failed, crashed

    status, first, rest, failed, crashed = asyncio.run(main())
    assert status == 200 and first == "data: 7"
    assert "data: second" in rest
    assert failed.status_code == 404 and failed.json()["error"]["message"] == "nope"
    assert crashed.status_code == 500, "an app exception is the server error a real server would send"
