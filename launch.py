"""Start the studio: `python launch.py [--host 127.0.0.1] [--port 7860] [--workspace DIR] [--auth user:pass]`.

Binds loopback by default; any other host needs --auth (or $BABYLLAMA_AUTH), because the studio
starts processes and reads files on this machine.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from core.net import is_loopback  # noqa: E402  (after the environment: nothing here reads it)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="BabyLlama Studio")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--workspace", default=None, help="workspace folder (default $BABYLLAMA_WORKSPACE, else ./workspace)")
    p.add_argument("--auth", default=os.environ.get("BABYLLAMA_AUTH"),
                   help="user:password required when binding a non-loopback host (or $BABYLLAMA_AUTH)")
    p.add_argument("--max-upload-mb", type=int, default=512, help="largest upload accepted, in MB")
    return p.parse_args(argv)


def check_exposure(host: str, auth: str | None) -> str | None:
    """The reason to refuse starting, or None: a non-loopback host needs user:password auth."""
    if is_loopback(host):
        return None
    if not auth or ":" not in auth:
        return (f"refusing to bind {host}: the studio starts processes and reads files on this machine. "
                "Bind 127.0.0.1 (the default), or pass --auth user:password (or set BABYLLAMA_AUTH).")
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reason = check_exposure(args.host, args.auth)
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    from core.workspace import Workspace
    from studio.app import CSS, build_app, enable_queue

    # Import transformers once, before handlers run in threads: two threads importing it for
    # the first time at the same moment can fail with a half-initialised module.
    import transformers

    transformers.AutoTokenizer, transformers.AutoModelForCausalLM  # resolve the lazy attributes now

    workspace = Workspace.resolve(args.workspace).ensure()
    demo = build_app(workspace)
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    print(f"BabyLlama Studio on http://{args.host}:{args.port}  (workspace: {workspace.root})", flush=True)
    enable_queue(demo).launch(
        server_name=args.host, server_port=args.port, auth=auth, share=False,
        max_file_size=f"{args.max_upload_mb}mb", allowed_paths=[str(workspace.root)],
        show_error=True, quiet=True, css=CSS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
