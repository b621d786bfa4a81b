"""The HTTP side of `babyllama serve`: a FastAPI app whose handlers read a capped body, check it with
core.serve.api and run generation in a worker thread, one request at a time, with a bounded queue
of waiting requests. Must not import gradio or studio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future
from queue import SimpleQueue

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from core.errors import UserError
from core.net import guard_middleware
from core.serve import api, responses

ROUTES = {"/health": "GET", "/generate": "POST", "/v1/completions": "POST", "/v1/models": "GET"}


class Worker:
    """One daemon thread running calls in the order they were handed in: closing an abandoned stream
    waits for its step in flight (a generator cannot be closed while it runs) and precedes the next
    turn. A daemon, so Ctrl-C need not wait for a long generation to end."""

    def __init__(self):
        self._jobs: SimpleQueue = SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="babyllama-generate", daemon=True)
        self.thread.start()

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        self._jobs.put((future, fn, args))
        return future

    def close(self) -> None:
        self._jobs.put(None)

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as err:  # noqa: BLE001 - handed to the awaiting request, which raises it
                future.set_exception(err)


class GenerationQueue:
    """One generation at a time (one model in memory), on one worker thread so the event loop stays
    free; at most `limit` requests wait for their turn, the next one gets a 503 with Retry-After instead
    of an ever longer wait. Once the server stops, waiting and running requests get a 503 at once."""

    def __init__(self, limit: int):
        self.limit, self.waiting = limit, 0
        self.seconds = 1.0  # smoothed length of one turn, for Retry-After
        self._lock = asyncio.Lock()  # FIFO: a newcomer does not overtake those already waiting
        self._since = 0.0
        self._stopping = asyncio.Event()
        self._worker = Worker()

    def busy(self) -> bool:
        return self._lock.locked()

    def stop(self) -> None:
        """The server is stopping: end every wait with a 503 (streams end after their current step, a
        generation asking `stopping()` at its next token)."""
        self._stopping.set()
        self._worker.close()

    def stopping(self) -> bool:
        """True once the server began to stop; safe to ask from the worker thread."""
        return self._stopping.is_set()

    def join(self, timeout: float) -> None:
        """Wait (at most `timeout` s) for the worker thread to end after `stop`: a thread still inside
        torch when the interpreter exits aborts the process ("terminate called ...")."""
        self._worker.thread.join(timeout)

    async def run(self, fn, *args):
        """fn(*args) on the worker thread; the event loop serves other clients meanwhile."""
        return await self._unless_stopping(asyncio.wrap_future(self._worker.submit(fn, *args)))

    def run_later(self, fn, *args) -> None:
        """fn(*args) on the worker thread after whatever is running there; not awaited."""
        self._worker.submit(fn, *args)

    async def acquire(self) -> None:
        if self._lock.locked() and self.waiting >= self.limit:
            retry = max(1, math.ceil(self.seconds * (self.waiting + 1)))
            raise api.RequestError(
                f"server busy: one generation is running and {self.waiting} requests are waiting, the most this "
                f"server queues; retry in about {retry} s (the queue is `babyllama serve --max-queue`)",
                status=503,
                headers={"Retry-After": str(retry)},
            )
        self.waiting += 1
        try:
            await self._unless_stopping(self._lock.acquire())
        finally:
            self.waiting -= 1
        self._since = time.monotonic()

    def release(self) -> None:
        self.seconds = 0.8 * self.seconds + 0.2 * (time.monotonic() - self._since)
        self._lock.release()

    @contextlib.asynccontextmanager
    async def turn(self):
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    async def _unless_stopping(self, awaitable):
        """The result of `awaitable`, or a 503 as soon as the server begins to stop."""
        task, stop = asyncio.ensure_future(awaitable), asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()  # an asyncio.Lock wait gives up without taking the lock; a job is abandoned
        if task.done() and not task.cancelled():
            return task.result()
        raise api.RequestError("server stopping: the model is no longer served; start the server again and retry", status=503)


# --------------------------------------------------------------------------- reading a body
async def read_json(request: Request, max_bytes: int, timeout_s: float) -> dict:
    """The request's JSON object; 411 without a length, 413 over `max_bytes`, 408 when the body has not
    all arrived within `timeout_s` (a client that sent less than its Content-Length)."""
    length = request.headers.get("content-length")
    if length is None and "chunked" not in request.headers.get("transfer-encoding", "").lower():
        raise api.RequestError(
            "request body: missing Content-Length header; send the body's size in bytes (or send it chunked)", status=411
        )
    if length is not None and int(length) > max_bytes:  # h11 has already refused a Content-Length that is not a number
        if int(length) <= 16 * max_bytes:  # read it away, so the client gets to read our answer (no TCP reset)
            with contextlib.suppress(api.RequestError, TimeoutError):
                await asyncio.wait_for(_read(request, 16 * max_bytes), timeout_s)
        raise _too_large(int(length), max_bytes)
    try:
        raw = await asyncio.wait_for(_read(request, max_bytes), timeout_s)
    except TimeoutError:
        raise api.RequestError(
            f"request body: not all of it arrived within {timeout_s:g} s (Content-Length said "
            f"{length} bytes); send the whole body",
            status=408,
        ) from None
    return api.parse_body(raw)


async def _read(request: Request, max_bytes: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(size, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, max_bytes: int) -> api.RequestError:
    return api.RequestError(
        f"request body: {size:,} bytes is over this server's limit of {max_bytes:,}; send a "
        "shorter prompt (the limit is `babyllama serve --max-body-bytes`)",
        status=413,
        headers={"Connection": "close"},
    )


# --------------------------------------------------------------------------- the app
def create_app(engine, options) -> FastAPI:
    """The ASGI app serving `engine` (a core.serve.Engine) within `options` (a core.serve.ServeOptions)."""
    app = FastAPI(
        title="babyllama serve",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        middleware=guard_middleware(options.host, options.allowed_hosts),
    )  # DNS rebinding, other sites
    queue = app.state.queue = GenerationQueue(options.max_queue)  # core.serve.Server stops it

    async def body(request: Request) -> dict:
        return await read_json(request, options.max_body_bytes, options.body_timeout_s)

    @app.get("/health")
    async def health() -> dict:
        info = engine.info()
        return {
            "status": "ok",
            **info,
            "busy": queue.busy() or info["busy"],
            "waiting": queue.waiting,
            "max_queue": options.max_queue,
            "max_new_tokens_cap": options.max_new_tokens_cap,
            "max_body_bytes": options.max_body_bytes,
            "max_prompts": options.max_prompts,
            "max_request_tokens": options.max_request_tokens,
        }

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": engine.name, "object": "model", "owned_by": "babyllama"}]}

    @app.post("/generate")
    async def generate(request: Request) -> dict:
        checked = api.generate_request(await body(request), options.max_new_tokens_cap)
        await _admit(request, checked, engine, options)
        (result,) = await _generated(request, checked, engine, queue)
        return responses.generate_response(result, engine.name, checked.params)

    @app.post("/v1/completions")
    async def completions(request: Request):
        checked = api.completion_request(await body(request), options.max_new_tokens_cap, engine.name)
        await _admit(request, checked, engine, options)
        ident = responses.new_completion_id()
        if not checked.stream:
            results = await _generated(request, checked, engine, queue)
            return responses.completion_response(results, engine.name, ident)
        # Before the 200 goes out, so a full queue is still a 503; Starlette cancels the stream itself
        # once the client leaves (core.serve.app.EventStream closes the generation).
        await while_connected(request, queue.acquire())
        return EventStream(_events(engine, queue, checked, ident), queue.release)

    _add_error_handlers(app)
    return app


async def _admit(request: Request, checked: api.Request, engine, options) -> None:
    """413 for too many prompts or tokens (counted off the event loop, before waiting for the model)."""
    api.check_prompts(checked, options.max_prompts)
    counts = await while_connected(request, asyncio.to_thread(engine.count_tokens, checked.prompts))
    api.check_tokens(checked, counts, options.max_request_tokens)


async def _generated(request: Request, checked: api.Request, engine, queue: GenerationQueue) -> list:
    """The results, generated in this request's turn; a client that leaves, while it waits or while its
    prompts are generated, gives its turn up and stops its generation at the next token (so does a
    server that stops)."""
    cancel = threading.Event()

    async def in_turn():
        async with queue.turn():
            return await queue.run(engine.generate, checked.prompts, checked.params, lambda: cancel.is_set() or queue.stopping())

    return await while_connected(request, in_turn(), cancel)


async def while_connected(request: Request, work, cancel: threading.Event | None = None):
    """The result of the coroutine `work`, unless the client disconnects first: then `cancel` is set,
    `work` is cancelled (a wait for the queue gives its place up) and ClientDisconnect raised. The body
    has been read, so the next ASGI message can only be the disconnect."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        if cancel is not None:
            cancel.set()
        raise ClientDisconnect()
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # whatever it ends with, nobody reads it
                await task


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


class EventStream(StreamingResponse):
    """Server-sent events that give the generation turn back however the stream ends: done, failed, or
    cancelled by Starlette when the client goes away (possibly before the first event)."""

    def __init__(self, events: AsyncIterator[bytes], release):
        # Content-Type set as a header: media_type would add "; charset=utf-8", which the old server never sent.
        super().__init__(events, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        self._release = release

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):  # close the events now (their finally frees the model), not at GC
                await self.body_iterator.aclose()
            self._release()


async def _events(engine, queue: GenerationQueue, checked: api.Request, ident) -> AsyncIterator[bytes]:
    """Each prompt's text as it grows (the last event of each carries the rest and finish_reason), then
    `data: [DONE]`."""
    params = checked.params
    for index, prompt in enumerate(checked.prompts):
        sent, last = "", None
        results = engine.stream(prompt, params)
        try:
            while (step := await queue.run(next, results, None)) is not None:
                last = step
                ready = responses.safe_prefix(last.text, params.stop)
                if len(ready) > len(sent) and ready.startswith(sent):
                    yield responses.completion_chunk(ident, engine.name, index, ready[len(sent) :])
                    sent = ready
        except UserError as err:  # a prompt the model cannot start from, or the server stopping; the 200 is out
            yield b"data: " + json.dumps(responses.error_body(err, getattr(err, "status", 400))).encode() + b"\n\n"
            return
        finally:
            queue.run_later(results.close)  # after a step still in flight (a cancelled stream); frees the model
        rest = last.text[len(sent) :] if last and last.text.startswith(sent) else ""
        yield responses.completion_chunk(ident, engine.name, index, rest, responses.finish_reason(last) if last else "stop")
    yield responses.DONE_EVENT


def _add_error_handlers(app: FastAPI) -> None:
    """Every failure answers OpenAI's error shape (core.serve.responses.error_body)."""

    def answer(status: int, err, headers: dict | None = None) -> JSONResponse:
        return JSONResponse(responses.error_body(err, status), status_code=status, headers=headers)

    @app.exception_handler(api.RequestError)
    async def refused(request: Request, err: api.RequestError):
        return answer(err.status, err, err.headers)

    @app.exception_handler(UserError)
    async def user_error(request: Request, err: UserError):  # found while generating
        return answer(400, err)

    @app.exception_handler(HTTPException)
    async def routing(request: Request, err: HTTPException):
        path, method = request.url.path, request.method
        if err.status_code == 405 and path in ROUTES:
            return answer(405, f"{method} {path}: method not allowed; use {ROUTES[path]}", {"Allow": ROUTES[path]})
        if err.status_code == 404:
            listed = ", ".join(f"{m} {p}" for p, m in ROUTES.items())
            return answer(404, f"{path}: no such endpoint; the endpoints are {listed}")
        return answer(err.status_code, f"{method} {path}: {err.detail}", err.headers)

    @app.exception_handler(ClientDisconnect)
    async def gone(request: Request, err: ClientDisconnect):
        return Response(status_code=400)  # the client left mid-body: nobody reads this; no traceback either

    @app.exception_handler(Exception)
    async def internal(request: Request, err: Exception):  # uvicorn logs the traceback
        return answer(500, f"internal error: {type(err).__name__}: {err}")
