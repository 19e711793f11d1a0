"""What kind of host an IP address leads to, from the IANA special-purpose address registries (IPv4 and IPv6).

Every special-purpose block is named, not only what `ipaddress.is_global` says. IPv4-mapped and well-known
NAT64 (64:ff9b::/96) addresses are judged as the IPv4 address they carry; 6to4 and Teredo addresses are
special-purpose and name the IPv4 addresses they carry; local-use NAT64 (64:ff9b:1::/48, whose layout varies)
is refused whatever it carries. Anything not globally reachable that the table misses is still refused.
"""

from __future__ import annotations

import ipaddress

from attrs import frozen

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

PUBLIC = "public"
LOOPBACK = "loopback"
PRIVATE = "private"
LINK_LOCAL = "link-local"
SPECIAL = "special-purpose"

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
TEREDO = ipaddress.IPv6Network("2001::/32")
SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")

# Most specific first: the first block that holds an address names it. (block, kind, name or "").
BLOCKS: list[tuple[Network, str, str]] = [
    (ipaddress.ip_network(block), kind, name)
    for block, kind, name in [
        ("255.255.255.255/32", SPECIAL, "limited broadcast"),
        ("0.0.0.0/8", SPECIAL, "this network"),
        ("10.0.0.0/8", PRIVATE, ""),
        ("100.64.0.0/10", PRIVATE, "shared address space"),
        ("127.0.0.0/8", LOOPBACK, ""),
        ("169.254.0.0/16", LINK_LOCAL, ""),
        ("172.16.0.0/12", PRIVATE, ""),
        ("192.0.0.0/24", SPECIAL, "IETF protocol assignments"),
        ("192.0.2.0/24", SPECIAL, "documentation"),
        ("192.31.196.0/24", SPECIAL, "AS112"),
        ("192.52.193.0/24", SPECIAL, "AMT"),
        ("192.88.99.0/24", SPECIAL, "6to4 relay anycast"),
        ("192.168.0.0/16", PRIVATE, ""),
        ("192.175.48.0/24", SPECIAL, "AS112 direct delegation"),
        ("198.18.0.0/15", SPECIAL, "benchmarking"),
        ("198.51.100.0/24", SPECIAL, "documentation"),
        ("203.0.113.0/24", SPECIAL, "documentation"),
        ("224.0.0.0/4", SPECIAL, "multicast"),
        ("240.0.0.0/4", SPECIAL, "reserved"),
        ("::1/128", LOOPBACK, ""),
        ("::/128", SPECIAL, "unspecified"),
        ("64:ff9b:1::/48", SPECIAL, "local-use IPv4/IPv6 translation"),
        ("::/8", SPECIAL, "reserved, IPv4-compatible"),
        ("100::/64", SPECIAL, "discard-only"),
        (str(TEREDO), SPECIAL, "Teredo"),
        ("2001:db8::/32", SPECIAL, "documentation"),
        ("2001::/23", SPECIAL, "IETF protocol assignments"),
        (str(SIX_TO_FOUR), SPECIAL, "6to4"),
        ("3fff::/20", SPECIAL, "documentation"),
        ("5f00::/16", SPECIAL, "segment routing"),
        ("fc00::/7", PRIVATE, "unique local"),
        ("fe80::/10", LINK_LOCAL, ""),
        ("fec0::/10", PRIVATE, "site-local, deprecated"),
        ("ff00::/8", SPECIAL, "multicast"),
    ]
]


@frozen
class AddressClass:
    """What an address leads to: a kind (public, loopback, private, link-local, special-purpose) and why."""

    kind: str
    why: str = ""

    def __str__(self) -> str:
        return f"a {self.kind} address ({self.why})" if self.why else f"a {self.kind} address"


def plain(address: IP) -> IP:
    """The IPv4 address an IPv4-mapped or well-known-prefix NAT64 IPv6 address carries, else the address itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(address.packed[-4:])
    return address


def embedded(address: IP) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses a 6to4 or Teredo (server and client) address carries."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    if address in SIX_TO_FOUR and address.sixtofour is not None:
        return [address.sixtofour]
    if address in TEREDO and address.teredo is not None:
        return list(address.teredo)
    return []


def classify(address: IP) -> AddressClass:
    """The kind of host an address leads to, naming the special-purpose block and any IPv4 address it carries."""
    address = plain(address)
    for block, kind, name in BLOCKS:
        if address.version == block.version and address in block:
            return _with_embedded(address, kind, ", ".join(part for part in (name, str(block)) if part))
    if isinstance(address, ipaddress.IPv6Address) and address not in GLOBAL_UNICAST:
        return AddressClass(SPECIAL, "outside global unicast, 2000::/3")
    if not address.is_global:
        return AddressClass(SPECIAL, "not globally reachable")
    return AddressClass(PUBLIC)


def _with_embedded(address: IP, kind: str, why: str) -> AddressClass:
    """The class of a block's address, naming the IPv4 addresses it carries and what they are."""
    carried = embedded(address)
    if not carried:
        return AddressClass(kind, why)
    inner = [classify(v4) for v4 in carried]
    named = " and ".join(str(v4) if each.kind == PUBLIC else f"{each.kind} {v4}" for v4, each in zip(carried, inner, strict=True))
    return AddressClass(kind, f"{why}, carrying {named}")
