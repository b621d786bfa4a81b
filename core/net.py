"""Network helpers shared by the studio launcher and the REST server: which hosts are this machine
only, and which `Host` / `Origin` headers a server answers (against DNS rebinding and cross-site
requests). Must not import gradio or torch; starlette only inside `guard_middleware`."""

from __future__ import annotations

import ipaddress
import json

from core.errors import UserError

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")  # answered by every server, whatever it binds
HOSTS_FLAG = "--allowed-hosts"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1); a host name other than
    localhost is not, since it may resolve to anything."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _as_header_host(host: str) -> str:
    """How a host appears in a Host header: lower case, an IPv6 address in brackets."""
    host = host.strip().lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def parse_allowed_hosts(text: str | None) -> tuple[str, ...]:
    """`a.example,*.lan,10.0.0.5` -> header-form hosts; UserError naming the flag for a URL, a port,
    a path or a misplaced wildcard (ports are never compared: any port is fine)."""
    hosts = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        bad = (
            "://" in item
            or "/" in item
            or item.count(":") == 1
            or item.startswith("[") != item.endswith("]")
            or ("*" in item and item != "*" and not (item.startswith("*.") and "*" not in item[1:]))
        )
        if bad:
            raise UserError(
                f"{HOSTS_FLAG}: {item!r} is not a host name; give names or addresses without "
                "scheme, port or path, separated by commas (e.g. studio.lan,*.example.org,10.0.0.5)"
            )
        hosts.append(_as_header_host(item))
    return tuple(hosts)


def allowed_hosts(bind: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The Host names a server bound to `bind` answers: the bound address, the loopback names and
    `extra` (from --allowed-hosts). A wildcard bind (0.0.0.0, ::) adds nothing: name the hosts."""
    hosts = list(LOCAL_HOSTS)
    for host in (_as_header_host(bind), *extra):
        if host not in hosts and host not in ("0.0.0.0", "[::]", ""):
            hosts.append(host)
    return hosts


def hosts_note(bind: str, extra: tuple[str, ...] = ()) -> str:
    """The line a server prints at start: the Host names it answers, and a warning when it binds every
    address (0.0.0.0, ::) with no name given, since other machines' requests would all get 400."""
    names = ", ".join(allowed_hosts(bind, extra))
    if _as_header_host(bind) in ("0.0.0.0", "[::]") and not extra:
        return (
            f"warning: answering Host {names} only: a client reaching this machine by its name or address "
            f"gets 400; give that name with {HOSTS_FLAG}"
        )
    return f"answering Host {names} (any port; {HOSTS_FLAG} adds names)"


def host_allowed(host: str, patterns: list[str]) -> bool:
    """Starlette TrustedHostMiddleware's rule: an exact name, `*.suffix`, or `*` for any."""
    host = host.lower()
    return any(p == "*" or host == p or (p.startswith("*.") and host.endswith(p[1:])) for p in patterns)


def origin_host(origin: str) -> str | None:
    """The host of an Origin header (`http://[::1]:7860` -> `[::1]`); None for `null` or junk."""
    scheme, sep, authority = origin.strip().partition("://")
    if not sep or not scheme or not authority or "/" in authority or "@" in authority:
        return None
    if authority.startswith("["):
        end = authority.find("]")
        return authority[: end + 1].lower() if end > 0 else None
    return authority.split(":", 1)[0].lower() or None


class OriginGuard:
    """ASGI middleware: 403 for a request whose `Origin` header names a host outside `hosts` (a page
    of another site calling this server from the user's browser). No Origin (curl, scripts,
    same-origin GETs) passes; so does an Origin of an allowed host, on any port."""

    def __init__(self, app, hosts: list[str]):
        self.app, self.hosts = app, list(hosts)

    async def __call__(self, scope, receive, send) -> None:
        origin = None
        if scope["type"] in ("http", "websocket"):
            for name, value in scope.get("headers", ()):
                if name == b"origin":
                    origin = value.decode("latin-1")
                    break
        if origin is None or "*" in self.hosts or host_allowed(origin_host(origin) or "\0", self.hosts):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # closing before accepting answers 403
            await send({"type": "websocket.close", "code": 1008})
            return
        message = (
            f"Origin {origin[:100]!r} is not allowed: this server answers pages of "
            f"{', '.join(self.hosts)} only; a host you trust can be added with {HOSTS_FLAG}"
        )
        body = json.dumps({"error": {"message": message, "type": "forbidden_origin", "param": None, "code": 403}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"vary", b"Origin"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def guard_middleware(bind: str, extra: tuple[str, ...] = ()) -> list:
    """Starlette `Middleware` entries for an app bound to `bind`: its own TrustedHostMiddleware (400 for
    a foreign Host: DNS rebinding) outside OriginGuard (403 for a foreign Origin)."""
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    hosts = allowed_hosts(bind, extra)
    return [Middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False), Middleware(OriginGuard, hosts=hosts)]
