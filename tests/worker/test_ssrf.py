"""The SSRF guard's rules, without any network: literal parsing, classification, the
allow-list, and resolution through a stand-in resolver (never real DNS)."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent_worker import ssrf

BLOCKED = [
    # (address, reason)
    ("127.0.0.1", "a loopback address"),
    ("127.255.255.254", "a loopback address"),
    ("10.0.0.1", "a private address"),
    ("172.16.5.4", "a private address"),
    ("172.31.255.255", "a private address"),
    ("192.168.1.1", "a private address"),
    ("169.254.169.254", "a cloud metadata address"),
    ("169.254.170.2", "a cloud metadata address"),
    ("100.100.100.200", "a cloud metadata address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("169.254.1.1", "a link-local address"),
    ("100.64.0.1", "a shared (CGNAT) address"),
    ("100.127.255.255", "a shared (CGNAT) address"),
    ("0.0.0.0", "an unspecified address"),
    ("0.1.2.3", "an unspecified address"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("255.255.255.255", "a broadcast address"),
    ("240.0.0.1", "a reserved address"),
    ("192.0.0.8", "a reserved (IETF protocol) address"),
    ("192.0.2.1", "a documentation address"),
    ("198.51.100.7", "a documentation address"),
    ("203.0.113.9", "a documentation address"),
    ("198.18.0.1", "a benchmarking address"),
    ("::1", "a loopback address"),
    ("::", "an unspecified address"),
    ("fe80::1", "a link-local address"),
    ("fec0::1", "a site-local address"),
    ("fc00::1", "a unique local address"),
    ("fd12:3456:789a::1", "a unique local address"),
    ("ff02::1", "a multicast address"),
    ("2001:db8::1", "a documentation address"),
    ("100::1", "a discard-only address"),
    ("64:ff9b:1::a00:1", "a local-use NAT64 address"),
    ("::ffff:127.0.0.1", "an IPv4-mapped form of 127.0.0.1, a loopback address"),
    ("::ffff:10.0.0.1", "an IPv4-mapped form of 10.0.0.1, a private address"),
    ("::ffff:169.254.169.254", "an IPv4-mapped form of 169.254.169.254, a cloud metadata address"),
    ("::ffff:0.0.0.0", "an IPv4-mapped form of 0.0.0.0, an unspecified address"),
    ("::127.0.0.1", "an IPv4-compatible form of 127.0.0.1, a loopback address"),
    ("::8.8.8.8", "an IPv4-compatible tunnel address (deprecated)"),
    ("2002:7f00:1::", "a 6to4 form of 127.0.0.1, a loopback address"),
    ("2002:c0a8:101::1", "a 6to4 form of 192.168.1.1, a private address"),
    ("2002:a9fe:a9fe::1", "a 6to4 form of 169.254.169.254, a cloud metadata address"),
    ("64:ff9b::10.0.0.1", "a NAT64 form of 10.0.0.1, a private address"),
    ("64:ff9b::127.0.0.1", "a NAT64 form of 127.0.0.1, a loopback address"),
    # Teredo: the client address is stored inverted; 0x80ffffff ^ ~ = 127.0.0.0
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "a Teredo form of 127.0.0.1, a loopback address"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo form of 192.0.2.45, a documentation address"),
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "a Teredo tunnel address (deprecated)"),  # 8.8.8.8
    # SIIT's IPv4-translated form ::ffff:0:a.b.c.d (RFC 2765), refused whatever it carries
    ("::ffff:0:127.0.0.1", "an IPv4-translated (SIIT) form of 127.0.0.1, a loopback address"),
    ("::ffff:0:7f00:1", "an IPv4-translated (SIIT) form of 127.0.0.1, a loopback address"),
    ("::ffff:0:10.1.2.3", "an IPv4-translated (SIIT) form of 10.1.2.3, a private address"),
    (
        "::ffff:0:169.254.169.254",
        "an IPv4-translated (SIIT) form of 169.254.169.254, a cloud metadata address",
    ),
    ("::ffff:0:0.0.0.0", "an IPv4-translated (SIIT) form of 0.0.0.0, an unspecified address"),
    ("::ffff:0:8.8.8.8", "an IPv4-translated (SIIT) address (deprecated)"),
    ("::1.2.3.4", "an IPv4-compatible tunnel address (deprecated)"),
    ("64:ff9b:1::8.8.8.8", "a local-use NAT64 address"),
    ("64:ff9b:1:ffff::1", "a local-use NAT64 address"),
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "172.32.0.1",
    "100.128.0.1",
    "169.255.0.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:81c::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
    "2002:808:808::1",
]

LITERALS = [
    # (host as written in a URL, the address it names)
    ("127.0.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0X7F000001", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0x7f.0.0.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("10.1", "10.0.0.1"),
    ("192.168.257", "192.168.1.1"),
    ("0", "0.0.0.0"),
    ("0x", "0.0.0.0"),
    ("127.0.0.1.", "127.0.0.1"),
    ("3232235777", "192.168.1.1"),
    ("0xa9fea9fe", "169.254.169.254"),
    ("[::1]", "::1"),
    ("[::ffff:7f00:1]", "::ffff:127.0.0.1"),
    ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
    ("[fe80::1%25eth0]", "fe80::1%eth0"),
]

NOT_LITERALS = [
    "example.com",
    "localhost",
    "1.2.3.4.5",
    "256.0.0.1",
    "1.2.3.256",
    "08",
    "0x1g",
    "127.0.0.0y",
    "1..2",
    "",
    ".",
    "4294967296",
    "1.16777216",
    "[::1",
    "::g",
]


@pytest.mark.parametrize(("address", "reason"), BLOCKED)
def test_non_public_addresses_are_named(address: str, reason: str) -> None:
    ip = ipaddress.ip_address(address)
    assert ssrf.classify(address) == ssrf.classify(ip) == reason
    assert ssrf.refusal(ip) == f"blocked: {ip} is {reason}"


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert ssrf.classify(address) is None
    assert ssrf.refusal(address) is None


def test_refusal_message_format() -> None:
    assert ssrf.refusal("127.0.0.1") == "blocked: 127.0.0.1 is a loopback address"


@pytest.mark.parametrize(("host", "address"), LITERALS)
def test_literal_forms(host: str, address: str) -> None:
    assert ssrf.parse_ip_literal(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", NOT_LITERALS)
def test_not_literals(host: str) -> None:
    assert ssrf.parse_ip_literal(host) is None


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.0.0.1", "08", "4294967296", "example.0x10"])
async def test_numeric_hosts_that_are_no_address_are_refused(host: str) -> None:
    with pytest.raises(ssrf.Blocked, match="is not a valid IP address"):
        await ssrf.resolve(host, 80, resolver=_no_dns)


# --- ports ----------------------------------------------------------------------------------

WEB_PORTS = frozenset({80, 443})


@pytest.mark.parametrize("port", [80, 443])
async def test_web_ports_pass(port: int) -> None:
    assert await ssrf.resolve("93.184.216.34", port, ports=WEB_PORTS, resolver=_no_dns) == ["93.184.216.34"]


@pytest.mark.parametrize("port", [22, 25, 6379, 5432, 8080, 8443, 11211])
async def test_other_ports_are_refused(port: int) -> None:
    with pytest.raises(ssrf.Blocked) as info:
        await ssrf.resolve("93.184.216.34", port, ports=WEB_PORTS, resolver=_no_dns)
    assert str(info.value) == f"blocked: port {port} is not one of the ports fetched (80, 443)"


async def test_an_address_refusal_comes_before_a_port_refusal() -> None:
    with pytest.raises(ssrf.Blocked, match="blocked: 127.0.0.1 is a loopback address"):
        await ssrf.resolve("127.0.0.1", 6379, ports=WEB_PORTS, resolver=_no_dns)


async def test_any_port_when_not_restricted_and_for_allowed_pairs() -> None:
    assert await ssrf.resolve("93.184.216.34", 6379, ports=None, resolver=_no_dns) == ["93.184.216.34"]
    allowed = frozenset({"127.0.0.1:8080"})
    assert await ssrf.resolve("127.0.0.1", 8080, allowed=allowed, ports=WEB_PORTS) == ["127.0.0.1"]


# --- resolution (stand-in resolvers: never real DNS) ------------------------------------------


async def _no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"a literal must not be resolved: {host}")


def _resolver(answers: dict[str, list[str]]) -> ssrf.Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return answers[host.lower()]

    return resolve


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f000001", "127.1", "0177.0.0.1", "[::1]", "::ffff:127.0.0.1"]
)
async def test_literals_are_checked_without_dns(host: str) -> None:
    with pytest.raises(ssrf.Blocked, match="loopback"):
        await ssrf.resolve(host, 80, resolver=_no_dns)


async def test_a_public_name_resolves_to_its_addresses() -> None:
    answers = ["93.184.216.34", "2606:2800:220:1::248"]
    resolver = _resolver({"example.com": answers})
    assert await ssrf.resolve("example.com", 443, resolver=resolver) == answers


async def test_any_private_answer_refuses_the_name() -> None:
    """DNS answering one public and one private address (rebinding setups) is refused."""
    resolver = _resolver({"rebind.example": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(ssrf.Blocked) as info:
        await ssrf.resolve("rebind.example", 80, resolver=resolver)
    assert str(info.value) == "blocked: 10.0.0.5 is a private address"


async def test_metadata_name_is_refused() -> None:
    resolver = _resolver({"metadata.google.internal": ["169.254.169.254"]})
    with pytest.raises(ssrf.Blocked, match=r"^blocked: 169.254.169.254 is a cloud metadata address$"):
        await ssrf.resolve("metadata.google.internal", 80, resolver=resolver)


async def test_scoped_link_local_answer_is_refused() -> None:
    resolver = _resolver({"printer.local": ["fe80::1%eth0"]})
    with pytest.raises(ssrf.Blocked, match="link-local"):
        await ssrf.resolve("printer.local", 80, resolver=resolver)


async def test_no_answer_is_an_error() -> None:
    with pytest.raises(ssrf.ResolveError, match="no addresses"):
        await ssrf.resolve("empty.example", 80, resolver=_resolver({"empty.example": []}))


@pytest.mark.parametrize(("errno", "temporary"), [(socket.EAI_NONAME, False), (socket.EAI_AGAIN, True)])
async def test_resolver_failures_are_reported(
    monkeypatch: pytest.MonkeyPatch, errno: int, temporary: bool
) -> None:
    """The system resolver's failure, stood in for: no DNS query leaves the machine."""

    async def failing(*args: object, **kwargs: object) -> list:
        raise socket.gaierror(errno, "lookup failed")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", failing)
    with pytest.raises(ssrf.ResolveError, match="^could not resolve nowhere.test: lookup failed$") as info:
        await ssrf.getaddrinfo("nowhere.test", 80)
    assert info.value.temporary is temporary


async def test_system_resolver_localhost_is_refused() -> None:
    """localhost comes from the hosts file, not from DNS."""
    with pytest.raises(ssrf.Blocked, match=r"^blocked: (127\.0\.0\.1|::1) is a loopback address$"):
        await ssrf.resolve("localhost", 80)


# --- the allow-list: exact host:port pairs ----------------------------------------------------


async def test_allowed_pair_is_exempt() -> None:
    allowed = frozenset({"127.0.0.1:8080"})
    assert await ssrf.resolve("127.0.0.1", 8080, allowed=allowed) == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("host", "port"),
    [
        ("127.0.0.1", 8081),  # another port
        ("127.0.0.1", 80),  # the default port
        ("localhost", 8080),  # another name for it
        ("2130706433", 8080),  # another spelling of it
        ("127.0.0.2", 8080),
    ],
)
async def test_allow_list_is_exact(host: str, port: int) -> None:
    allowed = frozenset({"127.0.0.1:8080"})
    with pytest.raises(ssrf.Blocked, match="loopback"):
        await ssrf.resolve(host, port, allowed=allowed)


async def test_allowed_name_and_ipv6_forms() -> None:
    allowed = frozenset({"localhost:9000", "[::1]:9000"})
    resolver = _resolver({"localhost": ["127.0.0.1"]})
    assert await ssrf.resolve("LocalHost", 9000, allowed=allowed, resolver=resolver) == ["127.0.0.1"]
    assert await ssrf.resolve("::1", 9000, allowed=allowed) == ["::1"]
    assert ssrf.host_key("::1", 9000) == "[::1]:9000"


# --- properties ---------------------------------------------------------------------------------

PRIVATE_NETS = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
]


@st.composite
def address_in(draw: st.DrawFn, networks: list) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    net = draw(st.sampled_from(networks))
    offset = draw(st.integers(0, net.num_addresses - 1))
    return net[offset]


@given(address_in(PRIVATE_NETS))
def test_every_private_address_is_refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert ssrf.classify(ip) is not None


def _inside_v6(ip: ipaddress.IPv4Address, how: str) -> ipaddress.IPv6Address:
    """`ip` carried in an IPv6 address the way `how` names."""
    teredo_client = int(ip) ^ 0xFFFFFFFF  # Teredo stores the client address inverted
    return {
        "mapped": lambda: ipaddress.IPv6Address(f"::ffff:{ip}"),
        "6to4": lambda: ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80) | 1),
        "nat64": lambda: ipaddress.IPv6Address(f"64:ff9b::{ip}"),
        "siit": lambda: ipaddress.IPv6Address(f"::ffff:0:{ip}"),
        "compatible": lambda: ipaddress.IPv6Address(f"::{ip}"),
        "teredo": lambda: ipaddress.IPv6Address((0x20010000 << 96) | (0x4136E378 << 64) | teredo_client),
    }[how]()


EMBEDDINGS = ["mapped", "6to4", "nat64", "siit", "compatible", "teredo"]


@given(address_in([n for n in PRIVATE_NETS if n.version == 4]), st.sampled_from(EMBEDDINGS))
def test_every_private_v4_is_refused_inside_ipv6(ip: ipaddress.IPv4Address, how: str) -> None:
    assert ssrf.classify(_inside_v6(ip, how)) is not None


@given(st.integers(0, 2**32 - 1), st.sampled_from(["siit", "compatible", "teredo"]))
def test_deprecated_embeddings_are_refused_whatever_they_carry(number: int, how: str) -> None:
    """SIIT, IPv4-compatible and Teredo only reach an IPv4 host through a translator or a
    tunnel on the way: refused even when the address they carry is public."""
    assert ssrf.classify(_inside_v6(ipaddress.IPv4Address(number), how)) is not None


@given(st.integers(0, 2**32 - 1), st.sampled_from(["mapped", "6to4", "nat64"]))
def test_routable_embeddings_are_judged_by_the_ipv4_they_carry(number: int, how: str) -> None:
    ip = ipaddress.IPv4Address(number)
    assert (ssrf.classify(_inside_v6(ip, how)) is None) == (ssrf.classify(ip) is None)


@given(st.integers(0, 2**32 - 1))
def test_v4_classification_agrees_with_ipaddress(number: int) -> None:
    """Whatever Python's own registry says is not global, we refuse too (plus multicast)."""
    ip = ipaddress.IPv4Address(number)
    if not ip.is_global or ip.is_multicast:
        assert ssrf.classify(ip) is not None


@given(st.integers(1, 223), st.integers(0, 255), st.integers(0, 255), st.integers(1, 254))
def test_random_public_v4_is_allowed(a: int, b: int, c: int, d: int) -> None:
    ip = ipaddress.IPv4Address(f"{a}.{b}.{c}.{d}")
    if ip.is_global and not any(ip in n for n in PRIVATE_NETS):
        assert ssrf.classify(ip) is None


@given(st.integers(0x2400 << 112, (0x2C00 << 112) - 1))
def test_random_public_v6_is_allowed(number: int) -> None:
    """2400::/6 holds the regional registries' allocations; nothing there is special."""
    assert ssrf.classify(ipaddress.IPv6Address(number)) is None


def _part(value: int, base: str) -> str:
    return {"dec": str(value), "hex": hex(value), "oct": "0" + oct(value)[2:] if value else "0"}[base]


@st.composite
def ipv4_spelling(draw: st.DrawFn) -> str:
    """One address written as inet_aton accepts it: 1 to 4 parts, each decimal, hex or octal."""
    number = draw(st.integers(0, 2**32 - 1))
    parts = draw(st.integers(1, 4))
    octets = list(number.to_bytes(4, "big"))
    values = octets[: parts - 1] + [int.from_bytes(bytes(octets[parts - 1 :]), "big")]
    return ".".join(_part(v, draw(st.sampled_from(["dec", "hex", "oct"]))) for v in values)


@given(ipv4_spelling())
def test_literal_parser_agrees_with_inet_aton(host: str) -> None:
    assert ssrf.parse_ip_literal(host) == ipaddress.IPv4Address(socket.inet_aton(host))


@given(st.text(alphabet="0123456789abcdefxX.", max_size=20))
def test_literal_parser_accepts_only_inet_aton_or_url_forms(host: str) -> None:
    """Beyond inet_aton, only what URL parsers (WHATWG) also read as an address: a trailing
    dot and a bare "0x" part meaning 0. Reading more as literals only means checking more."""
    try:
        expected = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        expected = None
    parsed = ssrf.parse_ip_literal(host)
    if expected is not None:
        assert parsed == expected
    elif parsed is not None:
        assert host.endswith(".") or re.search(r"(^|\.)0[xX](\.|$)", host)
