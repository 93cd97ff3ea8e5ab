"""Who may use the studio page: loopback by default, Origin checked, a token off loopback.

A web page the user happens to visit can make their browser open a WebSocket to 127.0.0.1
(cross-site) or, by DNS rebinding, reach the server under its own name. Both carry a foreign
``Host`` or ``Origin``. So, bound to loopback, the server answers only requests whose Host is
a loopback name, and a WebSocket only from a page of a loopback origin on its own port. Bound
elsewhere, any name may reach it, so every request must carry the session's random token
(the printed URL has it) and a WebSocket must come from the page's own origin.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 maybe in brackets) is this machine only."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token(host: str) -> str | None:
    """The session's token: None on loopback, else a fresh random one."""
    return None if is_loopback(host) else secrets.token_urlsafe(18)


def _hostname(host_header: str) -> str:
    return urlsplit(f"//{host_header}").hostname or ""


class Guard:
    """Decides, per request, whether it may be served: None if yes, else why not."""

    def __init__(self, bind_host: str, token: str | None):
        self.loopback = is_loopback(bind_host)
        self.token = token

    def check(self, host_header: str | None, origin: str | None, token: str | None,
              websocket: bool) -> str | None:
        if self.token is not None and not hmac.compare_digest(token or "", self.token):
            return "a token is required: open the URL that panslice printed"
        if self.loopback and not is_loopback(_hostname(host_header or "")):
            return f"host {host_header!r} is not this machine's loopback name"
        if websocket and origin is not None and not self._origin_ok(origin, host_header or ""):
            return f"origin {origin!r} may not control panslice"
        return None

    def _origin_ok(self, origin: str, host_header: str) -> bool:
        o = urlsplit(origin)
        if o.scheme != "http" or not o.hostname:
            return False
        if self.loopback:
            own_port = urlsplit(f"//{host_header}").port
            return is_loopback(o.hostname) and o.port == own_port
        return o.netloc.lower() == host_header.lower()
