"""The SSRF guard for fetch_url: which addresses a fetch may connect to.

Three pure steps plus one resolver, so every rule is testable without a network:
`parse_ip_literal` reads a host the way `inet_aton` and browsers do (decimal, hex, octal,
short forms), `classify` names why an address is not globally routable, and `resolve`
looks a hostname up once and refuses if ANY of its addresses is not public. The fetcher
then connects to the returned addresses only, so DNS cannot change the answer in between.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Blocked(Exception):
    """The host may not be fetched; the message says why ("blocked: 127.0.0.1 is a loopback address")."""


class ResolveError(Exception):
    """The hostname could not be resolved; `temporary` when trying again may help."""

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


# --- host literals --------------------------------------------------------------------

_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


def _ipv4_part(part: str) -> int | None:
    if not _PART.fullmatch(part):
        return None
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)  # "0x" alone is 0, as inet_aton and browsers read it
    if len(part) > 1 and part[0] == "0":
        return int(part, 8)
    return int(part)


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """IPv4 in any form inet_aton accepts: a.b.c.d, a.b.c (c 16 bits), a.b (b 24 bits) and a
    (32 bits), each part decimal, 0x-hex or 0-octal; a trailing dot is allowed as in URLs."""
    parts = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = [v for v in map(_ipv4_part, parts) if v is not None]
    if len(values) < len(parts):
        return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    number = last
    for i, v in enumerate(head):
        number += v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host names literally ("[::1]", "127.1", "0x7f000001"), or None for a hostname."""
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.replace("%25", "%"))  # a URL escapes the zone's %
        except ValueError:
            return None
    return parse_ipv4(host)


def looks_numeric(host: str) -> bool:
    """A host whose last label is a number is an IPv4 literal for browsers, never a DNS name."""
    label = host.rstrip(".").rsplit(".", 1)[-1]
    return bool(label) and bool(re.fullmatch(r"[0-9]+|0[xX][0-9a-fA-F]*", label))


# --- classification -------------------------------------------------------------------

_net = ipaddress.ip_network

# Addresses cloud providers serve instance credentials on: named so the refusal is clear.
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS IMDS over IPv6
    )
)

_V4_RULES: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(n), r)
    for n, r in (
        ("0.0.0.0/8", "an unspecified address"),
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", "a private address"),
        ("172.16.0.0/12", "a private address"),
        ("192.168.0.0/16", "a private address"),
        ("169.254.0.0/16", "a link-local address"),
        ("100.64.0.0/10", "a shared (CGNAT) address"),
        ("192.0.0.0/24", "a reserved (IETF protocol) address"),
        ("192.0.2.0/24", "a documentation address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "a broadcast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)

_V6_RULES: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(n), r)
    for n, r in (
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("64:ff9b:1::/48", "a local-use NAT64 address"),
        ("100::/64", "a discard-only address"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("2001:2::/48", "a benchmarking address"),
        ("2001:10::/28", "a reserved (ORCHID) address"),
        ("2001::/23", "a reserved (IETF protocol) address"),
        ("fc00::/7", "a unique local address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    )
)

# Every way an IPv6 address carries an IPv4 one, and whether a public IPv4 inside it may be
# reached that way. Mapped (RFC 4291), NAT64 (RFC 6052) and 6to4 (RFC 3056) of a public
# IPv4 reach that public address; the deprecated forms (IPv4-compatible RFC 4291 2.5.5.1,
# SIIT's IPv4-translated ::ffff:0:a.b.c.d RFC 2765, Teredo RFC 4380) only reach anything
# through a translator or tunnel on the way, so they are refused whatever they carry.
# The local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215) is refused whole in _V6_RULES: where
# its IPv4 sits depends on a prefix length only the network knows.
_COMPAT = _net("::/96")
_SIIT = _net("::ffff:0:0:0/96")
_NAT64 = _net("64:ff9b::/96")
_DEPRECATED = {
    "an IPv4-compatible": "an IPv4-compatible tunnel address (deprecated)",
    "an IPv4-translated (SIIT)": "an IPv4-translated (SIIT) address (deprecated)",
    "a Teredo": "a Teredo tunnel address (deprecated)",
}


def _low32(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)


def _embedded_v4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries, and how it carries it ("an IPv4-mapped")."""
    if ip.ipv4_mapped:
        return ip.ipv4_mapped, "an IPv4-mapped"
    if ip in _COMPAT and int(ip) > 1:
        return _low32(ip), "an IPv4-compatible"
    if ip in _SIIT:
        return _low32(ip), "an IPv4-translated (SIIT)"
    if ip in _NAT64:
        return _low32(ip), "a NAT64"
    if ip.sixtofour:
        return ip.sixtofour, "a 6to4"
    if ip.teredo:
        return ip.teredo[1], "a Teredo"  # the client; Teredo servers are public by design
    return None


def _classify_v4(ip: ipaddress.IPv4Address) -> str | None:
    for network, reason in _V4_RULES:
        if ip in network:
            return reason
    return None if ip.is_global else "a non-public address"


def classify(ip: IPAddress | str) -> str | None:
    """Why `ip` is not a public, globally routable unicast address, or None when it is."""
    ip = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if ip in METADATA:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv4Address):
        return _classify_v4(ip)
    ip = ip.__class__(int(ip))  # the scope id ("%eth0") does not change the class
    embedded = _embedded_v4(ip)
    if embedded:
        v4, how = embedded
        reason = classify(v4)
        if reason:
            return f"{how} form of {v4}, {reason}"
        return _DEPRECATED.get(how)  # mapped, NAT64 and 6to4 of a public IPv4 reach that public address
    for network, reason in _V6_RULES:
        if ip in network:
            return reason
    return None if ip.is_global else "a non-public address"


def refusal(ip: IPAddress | str) -> str | None:
    """The user-facing refusal for `ip`, or None when it may be fetched."""
    reason = classify(ip)
    return f"blocked: {ip} is {reason}" if reason else None


# --- resolution -----------------------------------------------------------------------

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def getaddrinfo(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`, in its order, without duplicates."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        temporary = exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None))
        raise ResolveError(f"could not resolve {host}: {exc.strerror or exc}", temporary=temporary) from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def host_key(host: str, port: int) -> str:
    """The FETCH_ALLOWED_HOSTS form of a host and port: "example.com:8080", "[::1]:8080"."""
    host = host.lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check_all(addresses: Iterable[str]) -> list[str]:
    checked = []
    for address in addresses:
        message = refusal(address.split("%", 1)[0])
        if message:
            raise Blocked(message)
        checked.append(address)
    return checked


def check_port(port: int, ports: frozenset[int] | None) -> None:
    """Blocked unless `port` is one of `ports` (None: any port)."""
    if ports is not None and port not in ports:
        allowed = ", ".join(map(str, sorted(ports))) or "none"
        raise Blocked(f"blocked: port {port} is not one of the ports fetched ({allowed})")


async def resolve(
    host: str,
    port: int,
    *,
    allowed: frozenset[str] = frozenset(),
    ports: frozenset[int] | None = None,
    resolver: Resolver | None = None,
) -> list[str]:
    """The addresses to connect to for host:port; Blocked if any is not public, or if the
    port is not in `ports` (web servers listen on 80 and 443; other ports of a public host
    are mostly its other services: mail, databases, admin panels).

    An exact host:port pair in `allowed` is exempt from both checks (local test servers),
    but is still resolved here once so the connection goes where we looked."""
    literal = parse_ip_literal(host)
    if literal is None and looks_numeric(host):
        raise Blocked(f"blocked: {host} is not a valid IP address")
    if literal is not None:
        addresses = [str(literal)]
    else:
        addresses = await (resolver or getaddrinfo)(host, port)
        if not addresses:
            raise ResolveError(f"could not resolve {host}: no addresses", temporary=False)
    if host_key(host, port) in allowed:
        return addresses
    checked = _check_all(addresses)
    check_port(port, ports)
    return checked
