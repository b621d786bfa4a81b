"""Start the studio from parsed flags: `babyllama studio` and `python launch.py` both end here.

Checks the login before binding (a non-loopback host needs one). Must not import gradio or
transformers at import time (only `serve` does), so a refused start or `--help` stays quick.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.cli.studio_cmds import AUTH_ENV, add_studio_args
from core.net import hosts_note, is_loopback, parse_allowed_hosts

QUIET_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="BabyLlama Studio")
    add_studio_args(p)
    return p.parse_args(argv)


def parse_auth(text: str, source: str) -> tuple[str, str]:
    """`user:password` -> (user, password); the password may hold ':', neither part may be empty."""
    user, colon, password = text.strip("\r\n").partition(":")
    if not colon or not user.strip() or not password:
        raise ValueError(f"{source}: expected user:password with neither part empty (nobody could log in with an empty one)")
    return user, password


def resolve_auth(args: argparse.Namespace, environ=os.environ) -> tuple[str, str] | None:
    """The login from --auth-file, --auth or $BABYLLAMA_AUTH (one of them), or None; ValueError
    with the reason when it is malformed, unreadable or given twice."""
    given = [name for name, value in (("--auth-file", args.auth_file), ("--auth", args.auth)) if value is not None]
    if len(given) > 1:
        raise ValueError("give one of --auth-file and --auth")
    if args.auth_file is not None:
        try:
            lines = [line for line in Path(args.auth_file).read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"--auth-file: cannot read {args.auth_file} ({err})") from None
        if len(lines) != 1:
            raise ValueError(f"--auth-file: {args.auth_file} must hold exactly one user:password line")
        return parse_auth(lines[0], f"--auth-file {args.auth_file}")
    if args.auth is not None:
        return parse_auth(args.auth, "--auth")
    if environ.get(AUTH_ENV) is not None:
        return parse_auth(environ[AUTH_ENV], f"${AUTH_ENV}")
    return None


def check_exposure(host: str, auth) -> str | None:
    """The reason to refuse starting, or None: a non-loopback host needs a login."""
    if is_loopback(host):
        return None
    if not auth:
        return (
            f"refusing to bind {host}: the studio starts processes and reads files on this machine. "
            f"Bind 127.0.0.1 (the default), or give a login: --auth-file FILE (one user:password line) "
            f"or ${AUTH_ENV}=user:password (--auth user:password works too, but shows in `ps`)."
        )
    return None


def serve(args: argparse.Namespace) -> int:
    """Check the login, open the workspace and serve the studio until interrupted; 2 on bad input."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    try:
        auth = resolve_auth(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    reason = check_exposure(args.host, auth)
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    from core.errors import UserError

    try:
        extra_hosts = parse_allowed_hosts(args.allowed_hosts)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # Import transformers once, before handlers run in threads: two threads importing it for
    # the first time at the same moment can fail with a half-initialised module.
    import transformers

    from core.workspace import Workspace
    from studio.app import CSS, build_app, enable_queue, guarded

    transformers.AutoTokenizer, transformers.AutoModelForCausalLM  # resolve the lazy attributes now

    try:
        workspace = Workspace.resolve(args.workspace).ensure()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    demo = build_app(workspace)
    print(f"BabyLlama Studio on http://{args.host}:{args.port}  (workspace: {workspace.root})", flush=True)
    note = hosts_note(args.host, extra_hosts)
    print(note, file=sys.stderr if note.startswith("warning") else sys.stdout, flush=True)
    enable_queue(demo).launch(
        server_name=args.host,
        server_port=args.port,
        auth=auth,
        share=False,
        max_file_size=f"{args.max_upload_mb}mb",
        allowed_paths=[str(workspace.root)],
        show_error=True,
        quiet=True,
        css=CSS,
        app_kwargs=guarded(args.host, extra_hosts),
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    return serve(parse_args(argv))
