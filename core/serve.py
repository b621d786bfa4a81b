"""`babyllama serve`: one model in memory behind a small HTTP server: POST /generate, POST
/v1/completions (OpenAI's shape, optionally streamed as server-sent events), GET /health.

Standard library http.server, a thread per connection, one lock around generation; the JSON
shapes live in core.serve_api. Must not import gradio or studio.
"""
from __future__ import annotations

import json
import socket
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from core import serve_api as api
from core.errors import UserError
from core.generate import GenerationResult, SamplingParams, context_length, generate, stream_results
from core.net import is_loopback


@dataclass(frozen=True)
class ServeOptions:
    """Where to listen and what a request may ask for."""

    host: str = "127.0.0.1"
    port: int = 8000
    allow_remote: bool = False          # a host other than loopback must be asked for explicitly
    max_body_bytes: int = 1 << 20       # larger request bodies get 413
    max_new_tokens_cap: int = 1024      # larger max_new_tokens / max_tokens get 400

    def check(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UserError(f"--port: must be 0-65535 (0 = any free port), got {self.port}")
        if self.max_body_bytes < 1 or self.max_new_tokens_cap < 1:
            raise UserError("--max-body-bytes and --max-new-tokens-cap must be >= 1")
        if not is_loopback(self.host) and not self.allow_remote:
            raise UserError(f"--host {self.host}: not a loopback address, so other machines could use the "
                            "model with no authentication; add --allow-remote if that is what you want, "
                            "or keep the default --host 127.0.0.1")


class Engine:
    """One model and tokenizer in memory; generation is serialized by a lock."""

    def __init__(self, model, tokenizer, name: str, folder: str = ""):
        self.model, self.tokenizer, self.name, self.folder = model, tokenizer, name, folder
        self.lock = threading.Lock()

    def generate(self, prompts: list[str], params: SamplingParams) -> list[GenerationResult]:
        with self.lock:
            return [generate(self.model, self.tokenizer, p, params) for p in prompts]

    def stream(self, prompt: str, params: SamplingParams) -> Iterator[GenerationResult]:
        """Growing results (see core.generate.stream_results); holds the lock until closed."""
        with self.lock:
            yield from stream_results(self.model, self.tokenizer, prompt, params)

    def info(self) -> dict:
        return {"model": self.name, "folder": self.folder, "device": str(self.model.device),
                "parameters": sum(p.numel() for p in self.model.parameters()),
                "context_length": context_length(self.model), "vocab_size": len(self.tokenizer),
                "busy": self.lock.locked()}


def load_engine(ref: str, workspace, *, device: str | None = None) -> Engine:
    """An Engine for a run name, checkpoint folder or transformers folder (UserError if none)."""
    from core.generate import load_model, resolve_model

    folder = resolve_model(ref, workspace)
    model, tokenizer = load_model(ref, workspace, device=device)
    return Engine(model, tokenizer, name=str(ref), folder=str(folder))


class Handler(BaseHTTPRequestHandler):
    """Routes requests; every failure is a JSON error in OpenAI's shape."""

    server_version = "babyllama-serve"
    timeout = 60  # seconds a client may take to send its request

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._route("GET")

    def do_POST(self):  # noqa: N802
        self._route("POST")

    def do_PUT(self):  # noqa: N802
        self._route("PUT")

    def do_DELETE(self):  # noqa: N802
        self._route("DELETE")

    def do_PATCH(self):  # noqa: N802
        self._route("PATCH")

    def _route(self, method: str) -> None:
        self._started = False
        methods = ROUTES.get(urlsplit(self.path).path)
        try:
            if methods is None:
                raise api.RequestError(f"{self.path}: no such endpoint; the endpoints are "
                                       f"{', '.join(f'{next(iter(m))} {p}' for p, m in ROUTES.items())}", status=404)
            if method not in methods:
                raise api.RequestError(f"{method} {self.path}: method not allowed; use {', '.join(methods)}",
                                       status=405)
            methods[method](self)
        except api.RequestError as err:
            self._fail(err.status, err, allow=", ".join(methods) if err.status == 405 else None)
        except UserError as err:  # found while generating (a prompt the model cannot start from)
            self._fail(400, err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; nothing to answer
        except Exception as err:  # noqa: BLE001 - one bad request must not stop the server
            traceback.print_exc(file=sys.stderr)
            self._fail(500, f"internal error: {type(err).__name__}: {err}")

    def _fail(self, status: int, err, allow: str | None = None) -> None:
        if self._started:  # a stream already began: all we can do is end it
            self.close_connection = True
            return
        headers = {"Allow": allow} if allow else {}
        self.send_json(status, api.error_body(err, status), headers)

    # ----------------------------------------------------------------- reading and writing
    def read_json(self) -> dict:
        cap = self.server.options.max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise api.RequestError("request body: send it with a Content-Length header (chunked uploads "
                                   "are not supported)", status=411)
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise api.RequestError("request body: missing or bad Content-Length header; send the body's "
                                   "size in bytes", status=411) from None
        if length > cap:
            self._discard(length)
            raise api.RequestError(f"request body: {length:,} bytes is over this server's limit of {cap:,}; "
                                   "send a shorter prompt (the limit is `babyllama serve --max-body-bytes`)",
                                   status=413)
        return api.parse_body(self.rfile.read(max(length, 0)))

    def _discard(self, length: int) -> None:
        """Read an oversized body away (up to 16x the limit) so the client reads our answer."""
        self.close_connection = True
        left = length if length <= 16 * self.server.options.max_body_bytes else 0
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            left -= len(chunk)

    def send_json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def start_events(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self._started = True
        self.close_connection = True  # no length: the end of the stream is the end of the connection


# --------------------------------------------------------------------------- endpoints
def _health(h: Handler) -> None:
    opts = h.server.options
    h.send_json(200, {"status": "ok", **h.server.engine.info(), "max_new_tokens_cap": opts.max_new_tokens_cap,
                      "max_body_bytes": opts.max_body_bytes})


def _models(h: Handler) -> None:
    engine = h.server.engine
    h.send_json(200, {"object": "list", "data": [{"id": engine.name, "object": "model", "owned_by": "babyllama"}]})


def _generate(h: Handler) -> None:
    request = api.generate_request(h.read_json(), h.server.options.max_new_tokens_cap)
    (result,) = h.server.engine.generate(request.prompts, request.params)
    h.send_json(200, api.generate_response(result, h.server.engine.name, request.params))


def _completions(h: Handler) -> None:
    engine = h.server.engine
    request = api.completion_request(h.read_json(), h.server.options.max_new_tokens_cap, engine.name)
    ident = api.new_completion_id()
    if not request.stream:
        results = engine.generate(request.prompts, request.params)
        h.send_json(200, api.completion_response(results, engine.name, ident))
        return
    h.start_events()
    for index, prompt in enumerate(request.prompts):
        _stream_one(h, engine, prompt, request.params, index, ident)
    h.wfile.write(api.DONE_EVENT)
    h.wfile.flush()


def _stream_one(h: Handler, engine: Engine, prompt: str, params: SamplingParams, index: int, ident) -> None:
    """Send the text of one prompt as it grows; the last event carries the rest and finish_reason."""
    sent, last = "", None
    results = engine.stream(prompt, params)
    try:
        for last in results:
            ready = api.safe_prefix(last.text, params.stop)
            if len(ready) > len(sent) and ready.startswith(sent):
                h.wfile.write(api.completion_chunk(ident, engine.name, index, ready[len(sent):]))
                h.wfile.flush()
                sent = ready
    finally:
        results.close()  # releases the generation lock even when the client went away
    rest = last.text[len(sent):] if last.text.startswith(sent) else ""
    h.wfile.write(api.completion_chunk(ident, engine.name, index, rest, api.finish_reason(last)))


ROUTES = {"/health": {"GET": _health}, "/generate": {"POST": _generate},
          "/v1/completions": {"POST": _completions}, "/v1/models": {"GET": _models}}


class Server(ThreadingHTTPServer):
    """A thread per connection; the engine and options ride on the server for the handlers."""

    daemon_threads = True  # Ctrl-C does not wait for a client that keeps a stream open

    def __init__(self, engine: Engine, options: ServeOptions):
        self.engine, self.options = engine, options
        if ":" in options.host:
            self.address_family = socket.AF_INET6
        super().__init__((options.host, options.port), Handler)


def make_server(engine: Engine, options: ServeOptions) -> Server:
    """A bound, not yet serving server (port 0 = any free port: see `server.server_address`)."""
    options.check()
    try:
        return Server(engine, options)
    except OSError as err:
        raise UserError(f"--host {options.host} --port {options.port}: cannot listen there ({err.strerror}); "
                        "pick another --port (0 = any free one)") from err


def serve(engine: Engine, options: ServeOptions, log=print) -> None:
    """Serve until Ctrl-C (KeyboardInterrupt), then close the socket and return."""
    server = make_server(engine, options)
    host, port = server.server_address[:2]
    if not is_loopback(options.host):
        log(f"warning: listening on {host}:{port}, reachable from other machines, with no authentication")
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    log(f"serving {engine.name} on {url} (POST /generate, POST /v1/completions, GET /health); Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log("stopping")
    finally:
        server.server_close()
