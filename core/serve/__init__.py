"""`babyllama serve`: one model in memory behind a REST server. `server` holds the options, the
engine (the model and its lock) and the server's life; `app` the FastAPI handlers, body limits and
the generation queue; `api` the request models and response shapes. Must not import gradio or studio.
"""

from __future__ import annotations

from core.serve.server import Engine, ServeOptions, Server, load_engine, make_server, serve

__all__ = ["Engine", "Server", "ServeOptions", "load_engine", "make_server", "serve"]
