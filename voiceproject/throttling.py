"""Rate limits per client address; `X-Forwarded-For` counts only from `TRUSTED_PROXIES`.

Anyone can send `X-Forwarded-For` with any address in it; a proxy in front of the app appends
the address it saw. So the header is read right to left from a trusted proxy, skipping the
trusted proxies, and the first other address is the client (the rule Django's and DRF's
documentation give: DRF's NUM_PROXIES counts the proxies, TRUSTED_PROXIES names them). From any
other peer the header is ignored and the client is the peer's own address.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    """`TRUSTED_PROXIES` as networks (a bare address is a /32 or /128)."""
    networks = []
    for proxy in proxies:
        try:
            networks.append(ipaddress.ip_network(proxy.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {proxy!r} is not an IP address or CIDR network"
            ) from exc
    return tuple(networks)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request) -> str:
    """The address of the client that sent `request`, for rate limits."""
    remote = request.META.get("REMOTE_ADDR", "")
    networks = trusted_networks(tuple(settings.TRUSTED_PROXIES))
    if not _trusted(remote, networks):
        return remote
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if _trusted(hop, networks):
            continue
        try:
            return str(ipaddress.ip_address(hop))
        except ValueError:  # not what a proxy appends: count it against the proxy itself
            return remote
    return remote


class ClientRateThrottle(SimpleRateThrottle):
    """A DRF throttle keyed by `client_address`, its rate read at request time (a changed
    rate setting applies at once)."""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request) -> str:
        return client_address(request)


class AnonymousRateThrottle(ClientRateThrottle, AnonRateThrottle):
    """DRF's anonymous throttle (the `anon` rate), keyed by `client_address`."""
