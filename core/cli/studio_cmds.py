"""`babyllama studio`: serve the Gradio studio, the same as `python launch.py`. Its flags are
defined here (so `--help` and the docs need no UI); the launcher is imported only when the verb
runs. Must not import gradio or studio at import time.
"""

from __future__ import annotations

import argparse
from importlib import import_module

LAUNCHER = "studio.launcher"  # imported by name when the verb runs: core never imports the UI itself
AUTH_ENV = "BABYLLAMA_AUTH"


def add_studio_args(p: argparse.ArgumentParser) -> None:
    """The studio's flags, shared by `babyllama studio` and `launch.py`."""
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--workspace", metavar="DIR", default=None, help="workspace folder (default $BABYLLAMA_WORKSPACE, else ./workspace)"
    )
    p.add_argument(
        "--auth-file",
        metavar="FILE",
        default=None,
        help=f"file whose one line is user:password: the login, required when binding a non-loopback host (or set ${AUTH_ENV})",
    )
    p.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        default=None,
        help=f"the login on the command line; prefer --auth-file or ${AUTH_ENV}, since "
        "every user of this machine can read a command line (`ps`)",
    )
    p.add_argument(
        "--allowed-hosts",
        metavar="HOST[,HOST...]",
        default=None,
        help="Host / Origin names to answer besides the bound address, localhost, 127.0.0.1 and "
        "[::1] (any port; *.example.org matches subdomains); a request with another Host "
        "gets 400, one from a page of another site (Origin) 403",
    )
    p.add_argument("--max-upload-mb", type=int, default=512, help="largest upload accepted, in MB")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "studio",
        help="serve the studio in the browser (default http://127.0.0.1:7860/)",
        description="The point-and-click studio (Gradio), the same as `python launch.py` in a checkout. "
        "Binds loopback by default; any other host needs a login.",
    )
    add_studio_args(p)
    p.set_defaults(func=_cmd_studio)


def _cmd_studio(args: argparse.Namespace) -> int:
    return import_module(LAUNCHER).serve(args)
