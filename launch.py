"""Start the studio: `python launch.py [--host 127.0.0.1] [--port 7860] [--workspace DIR] [--auth-file FILE]`.

Binds loopback by default; any other host needs a login (`--auth-file`, `$BABYLLAMA_AUTH` or
`--auth`), because the studio starts processes and reads files on this machine.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from core.net import hosts_note, is_loopback, parse_allowed_hosts  # noqa: E402  (after the environment: nothing here reads it)

AUTH_ENV = "BABYLLAMA_AUTH"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="BabyLlama Studio")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--workspace", default=None, help="workspace folder (default $BABYLLAMA_WORKSPACE, else ./workspace)")
    p.add_argument("--auth-file", metavar="FILE", default=None,
                   help="file whose one line is user:password: the login, required when binding a "
                        "non-loopback host (or set $BABYLLAMA_AUTH)")
    p.add_argument("--auth", metavar="USER:PASSWORD", default=None,
                   help="the login on the command line; prefer --auth-file or $BABYLLAMA_AUTH, since "
                        "every user of this machine can read a command line (`ps`)")
    p.add_argument("--allowed-hosts", metavar="HOST[,HOST...]", default=None,
                   help="Host / Origin names to answer besides the bound address, localhost, 127.0.0.1 and "
                        "[::1] (any port; *.example.org matches subdomains); a request with another Host "
                        "gets 400, one from a page of another site (Origin) 403")
    p.add_argument("--max-upload-mb", type=int, default=512, help="largest upload accepted, in MB")
    return p.parse_args(argv)


def parse_auth(text: str, source: str) -> tuple[str, str]:
    """`user:password` -> (user, password); the password may hold ':', neither part may be empty."""
    user, colon, password = text.strip("\r\n").partition(":")
    if not colon or not user.strip() or not password:
        raise ValueError(f"{source}: expected user:password with neither part empty (nobody could log in "
                         "with an empty one)")
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
        return (f"refusing to bind {host}: the studio starts processes and reads files on this machine. "
                f"Bind 127.0.0.1 (the default), or give a login: --auth-file FILE (one user:password line) "
                f"or ${AUTH_ENV}=user:password (--auth user:password works too, but shows in `ps`).")
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
    from core.workspace import Workspace
    from studio.app import CSS, build_app, enable_queue, guarded

    # Import transformers once, before handlers run in threads: two threads importing it for
    # the first time at the same moment can fail with a half-initialised module.
    import transformers

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
        server_name=args.host, server_port=args.port, auth=auth, share=False,
        max_file_size=f"{args.max_upload_mb}mb", allowed_paths=[str(workspace.root)],
        show_error=True, quiet=True, css=CSS, app_kwargs=guarded(args.host, extra_hosts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
