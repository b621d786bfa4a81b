"""`babyllama serve`: one model in memory behind a REST server: POST /generate, POST /v1/completions
(OpenAI's shape, optionally streamed as server-sent events), GET /health, GET /v1/models.

uvicorn serves the FastAPI app of core.serve.app; this module holds the options, the engine (the model and
its lock) and the server's life: bind, serve, stop. Must not import gradio or studio.
"""

from __future__ import annotations

import copy
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from core.errors import UserError
from core.generate import GenerationResult, SamplingParams, context_length, generate, stream_results
from core.net import hosts_note, is_loopback

BACKLOG = 2048  # connections the kernel holds until they are accepted (http.server's was 5)


@dataclass(frozen=True)
class ServeOptions:
    """Where to listen and what a request may ask for."""

    host: str = "127.0.0.1"
    port: int = 8000
    allow_remote: bool = False  # a host other than loopback must be asked for explicitly
    max_body_bytes: int = 1 << 20  # larger request bodies get 413
    max_new_tokens_cap: int = 1024  # larger max_new_tokens / max_tokens get 400
    max_queue: int = 256  # requests waiting for the model beyond this get 503 + Retry-After
    max_prompts: int = 64  # more prompts in one request get 413
    max_request_tokens: int = 65536  # prompt tokens + max_new_tokens, summed over a request's prompts; more: 413
    body_timeout_s: float = 30.0  # a body that has not all arrived by then gets 408
    allowed_hosts: tuple[str, ...] = ()  # Host / Origin names answered besides the bound address and loopback

    def check(self) -> None:
        if not 0 <= self.port <= 65535:
            raise UserError(f"--port: must be 0-65535 (0 = any free port), got {self.port}")
        for flag, value in (
            ("--max-body-bytes", self.max_body_bytes),
            ("--max-new-tokens-cap", self.max_new_tokens_cap),
            ("--max-prompts", self.max_prompts),
            ("--max-request-tokens", self.max_request_tokens),
        ):
            if value < 1:
                raise UserError(f"{flag}: must be >= 1, got {value}")
        if self.max_queue < 0:
            raise UserError(f"--max-queue: must be >= 0 (0 = no waiting: busy means 503), got {self.max_queue}")
        if not self.body_timeout_s > 0:
            raise UserError(f"body_timeout_s: must be > 0 seconds, got {self.body_timeout_s}")
        if not is_loopback(self.host) and not self.allow_remote:
            raise UserError(
                f"--host {self.host}: not a loopback address, so other machines could use the "
                "model with no authentication; add --allow-remote if that is what you want, "
                "or keep the default --host 127.0.0.1"
            )


class Engine:
    """One model and tokenizer in memory; generation is serialized by a lock."""

    def __init__(self, model, tokenizer, name: str, folder: str = ""):
        self.model, self.tokenizer, self.name, self.folder = model, tokenizer, name, folder
        self.lock = threading.Lock()
        self._counter, self._count_lock = None, threading.Lock()

    def generate(
        self, prompts: list[str], params: SamplingParams, cancelled: Callable[[], bool] | None = None
    ) -> list[GenerationResult]:
        """One result per prompt; once `cancelled()` (asked before every token) is true, the results
        so far, the last one cut short."""
        with self.lock:
            results = []
            for prompt in prompts:
                if cancelled is not None and cancelled():
                    break
                results.append(generate(self.model, self.tokenizer, prompt, params, cancelled=cancelled))
            return results

    def count_tokens(self, prompts: list[str]) -> list[int]:
        """The length in tokens of each prompt as sent (before any cut to the model's context), with a
        copy of the tokenizer: a fast tokenizer used by two threads at once can fail ("Already borrowed")."""
        with self._count_lock:
            if self._counter is None:
                self._counter = copy.deepcopy(self.tokenizer)
            return [len(ids) for ids in self._counter(prompts)["input_ids"]]

    def stream(self, prompt: str, params: SamplingParams) -> Iterator[GenerationResult]:
        """Growing results (see core.generate.stream_results); holds the lock until closed."""
        with self.lock:
            yield from stream_results(self.model, self.tokenizer, prompt, params)

    def info(self) -> dict:
        return {
            "model": self.name,
            "folder": self.folder,
            "device": str(self.model.device),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "context_length": context_length(self.model),
            "vocab_size": len(self.tokenizer),
            "busy": self.lock.locked(),
        }


def load_engine(ref: str, workspace, *, device: str | None = None) -> Engine:
    """An Engine for a run name, checkpoint folder or transformers folder (UserError if none)."""
    from core.generate import load_model, resolve_model

    folder = resolve_model(ref, workspace)
    model, tokenizer = load_model(ref, workspace, device=device)
    return Engine(model, tokenizer, name=str(ref), folder=str(folder))


class Server:
    """uvicorn on a socket that is bound and listening before it starts, so port 0 is known at once and
    no early client is refused. `serve_forever` blocks; `shutdown` (from another thread) stops it."""

    def __init__(self, engine: Engine, options: ServeOptions):
        # Here, not at the top: the CLI imports this module to build its parser, FastAPI is needed only to serve.
        import uvicorn

        from core.serve.app import create_app

        self.socket = _listen(options.host, options.port)
        self.server_address = self.socket.getsockname()
        config = uvicorn.Config(
            create_app(engine, options),
            http="h11",
            ws="none",
            lifespan="off",
            log_level="warning",
            access_log=False,
            backlog=BACKLOG,
            server_header=False,
            headers=[("server", "babyllama-serve")],
            timeout_graceful_shutdown=3,
        )  # an open stream does not hold up Ctrl-C for long
        self._queue = config.app.state.queue
        self._uvicorn = _uvicorn_server(config, on_stop=self._queue.stop)
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        try:
            self._uvicorn.run(sockets=[self.socket])
        finally:
            self._queue.stop()  # also when uvicorn ended without its shutdown (a failure at start)
            self._queue.join(timeout=2.0)  # the generation in flight ends at its next token
            self._stopped.set()

    def shutdown(self, timeout: float = 10.0) -> None:
        self._uvicorn.should_exit = True
        self._stopped.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()


def _uvicorn_server(config, on_stop):
    import uvicorn

    class StoppingServer(uvicorn.Server):
        """Tells the app when shutdown begins, so requests waiting for the model get a 503 at once (and
        streams end after their current token) instead of a cancellation when the grace period ends."""

        async def shutdown(self, sockets=None) -> None:
            on_stop()
            await super().shutdown(sockets)

    return StoppingServer(config)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may reuse a port in TIME_WAIT
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as err:
        sock.close()
        raise UserError(
            f"--host {host} --port {port}: cannot listen there ({err.strerror}); pick another --port (0 = any free one)"
        ) from err
    return sock


def make_server(engine: Engine, options: ServeOptions) -> Server:
    """A bound, listening, not yet serving server (port 0 = any free port: see `server.server_address`)."""
    options.check()
    return Server(engine, options)


def serve(engine: Engine, options: ServeOptions, log=print) -> None:
    """Serve until Ctrl-C or SIGTERM (uvicorn stops gracefully, then re-raises it), then close the socket."""
    server = make_server(engine, options)
    host, port = server.server_address[:2]
    if not is_loopback(options.host):
        log(f"warning: listening on {host}:{port}, reachable from other machines, with no authentication")
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    log(f"serving {engine.name} on {url} (POST /generate, POST /v1/completions, GET /health); Ctrl-C stops")
    log(hosts_note(options.host, options.allowed_hosts))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log("stopping")
    finally:
        server.server_close()
