"""Network helpers shared by the studio launcher and the REST server: which hosts are this
machine only. Must not import gradio or torch."""
from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1); a host name other than
    localhost is not, since it may resolve to anything."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
