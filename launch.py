"""Start the studio: `python launch.py [--host 127.0.0.1] [--port 7860] [--workspace DIR] [--auth-file FILE]`.

The same as `babyllama studio` once installed (both call `studio.launcher.serve`). Binds loopback
by default; any other host needs a login (`--auth-file`, `$BABYLLAMA_AUTH` or `--auth`), because
the studio starts processes and reads files on this machine.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from core.cli.studio_cmds import AUTH_ENV  # noqa: E402,F401  (after the environment: nothing here reads it)
from core.net import is_loopback  # noqa: E402,F401
from studio.launcher import check_exposure, main, parse_args, parse_auth, resolve_auth  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
