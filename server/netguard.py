"""Which IP addresses the server may fetch a ``video_url`` from: pure functions, no I/O.

By default only public (globally routable unicast) addresses: anything else reaches into the network
the server runs in (its own loopback services, the LAN, a cloud's metadata service at
169.254.169.254). IPv6 forms that stand for an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) are
judged by the IPv4 address they reach as well. Networks given with ``--allow-url-network`` are
trusted explicitly and override every rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

NAT64 = IPv6Network("64:ff9b::/96")
METADATA = IPv4Address("169.254.169.254")


def reached_addresses(address: IPAddress) -> tuple[IPAddress, ...]:
    """The addresses a connection to ``address`` really reaches, each of which must be acceptable.

    IPv4-mapped (``::ffff:a.b.c.d``) and NAT64 (``64:ff9b::a.b.c.d``) addresses are translated to
    the IPv4 one, so only it counts; 6to4 and Teredo tunnel to an embedded IPv4 host, so both count.
    """
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return (address.ipv4_mapped,)
        if address in NAT64:
            return (IPv4Address(int(address) & 0xFFFF_FFFF),)
        if address.sixtofour is not None:
            return (address, address.sixtofour)
        if address.teredo is not None:
            return (address, address.teredo[1])
    return (address,)


def _category(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address, or None when it is."""
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address == METADATA:
        return "link-local (cloud metadata service)"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, IPv6Address) and address.is_site_local:
        return "site-local"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "non-global"
    return None


def refusal(address: IPAddress, allowed: Iterable[IPNetwork] = ()) -> str | None:
    """Why the server must not connect to ``address`` (e.g. ``"loopback"``), or None when it may."""
    allowed = tuple(allowed)

    def trusted(candidate: IPAddress) -> bool:
        return any(candidate.version == net.version and candidate in net for net in allowed)

    if trusted(address):
        return None
    for reached in reached_addresses(address):
        if trusted(reached):
            continue
        why = _category(reached)
        if why is not None:
            return why if reached == address else f"{why} as {reached}"
    return None
