"""The client's address, believing X-Forwarded-For only when it comes from a trusted proxy.

``TRUSTED_PROXIES`` (addresses or CIDRs, e.g. the ingress controller's pod range) lists the
reverse proxies in front of the portal. A request whose peer (REMOTE_ADDR) is not one of them is
answered by that peer's address, whatever X-Forwarded-For says (anyone can send the header).
From a trusted peer, X-Forwarded-For is read from the right, skipping the trusted proxies: the
first address no trusted proxy owns is the client (what each proxy appended, not what the client
wrote at the left). Used by the login lockout (django-axes) and the API token brake.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or ""
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _trusted(remote, networks):
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return remote  # a hop a trusted proxy would never write: trust nothing of it
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else remote
