"""Node addresses: one canonical URL per endpoint, the keys that say who holds it, and which addresses may be probed."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from attrs import define

from freescode_lsp.errors import FreescodeError
from freescode_lsp.mesh.registry.special_addresses import IP, LOOPBACK, PRIVATE, PUBLIC, classify, plain

Resolver = Callable[[str, int], Awaitable[list[str]]]

DEFAULT_PORTS = {"http": 80, "https": 443}
URL_CHARACTERS = re.compile(r"[\x21-\x7e]+")
PATH = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/-]*")
LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")


class AddressError(FreescodeError, ValueError):
    """A node URL or address the registry refuses, with the reason to show the operator."""


@define(frozen=True)
class NodeUrl:
    """A node's root URL taken apart: scheme, host as written in the URL, port and path, all canonical."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def ip(self) -> IP | None:
        """The host as an address when the URL names one, else None."""
        try:
            return ipaddress.ip_address(self.host.strip("[]"))
        except ValueError:
            return None

    @property
    def hostname(self) -> str:
        """The host without IPv6 brackets, as resolvers and TLS want it."""
        return self.host.strip("[]")

    def __str__(self) -> str:
        port = "" if DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}{self.path}"

    def at(self, address: IP, path: str) -> str:
        """This URL's `path` on one resolved address, so the connection goes where the check said."""
        host = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{host}:{self.port}{self.path}{path}"

    @property
    def host_header(self) -> str:
        """The Host header a request to this node carries."""
        return self.host if DEFAULT_PORTS[self.scheme] == self.port else f"{self.host}:{self.port}"


def parse_node_url(text: str) -> NodeUrl:
    """The canonical form of an http(s) node URL: one spelling per endpoint, or AddressError saying why not."""
    if not URL_CHARACTERS.fullmatch(text):
        raise AddressError("must be printable ASCII without spaces, tabs or control characters")
    if "?" in text or "#" in text:
        raise AddressError("must not carry credentials, a query or a fragment")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise AddressError(f"is not a valid URL: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise AddressError(f"must start with http:// or https://, not {text[:60]!r}")
    if parts.username is not None or parts.password is not None:
        raise AddressError("must not carry credentials, a query or a fragment")
    if not parts.hostname:
        raise AddressError("has no host")
    if port == 0:
        raise AddressError("has port 0")
    return NodeUrl(
        parts.scheme,
        canonical_host(parts.hostname),
        DEFAULT_PORTS[parts.scheme] if port is None else port,
        canonical_path(parts.path),
    )


def canonical_host(hostname: str) -> str:
    """An address in its one standard spelling (IPv4-mapped IPv6 as IPv4), or a lower-case DNS name."""
    if "%" in hostname:
        raise AddressError("must not carry an IPv6 zone")
    try:
        address = plain(ipaddress.ip_address(hostname))
    except ValueError:
        address = None
    if address is not None:
        return f"[{address}]" if address.version == 6 else str(address)
    name = hostname.lower().removesuffix(".")
    labels = name.split(".")
    if NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            return str(ipaddress.IPv4Address(socket.inet_aton(name)))
        except OSError:
            raise AddressError(f"host {hostname!r} is neither an IPv4 address nor a DNS name") from None
    if len(name) > 253 or not all(LABEL.fullmatch(label) for label in labels):
        raise AddressError(f"host {hostname!r} is not a valid DNS name")
    return name


def canonical_path(path: str) -> str:
    """The path with `.`, `..` and empty segments resolved and a final /v1 dropped: the node's root."""
    if not PATH.fullmatch(path):
        raise AddressError("has a path with characters that need percent-escapes; node paths may not use them")
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    if segments and segments[-1] == "v1":
        segments.pop()
    return "".join(f"/{segment}" for segment in segments)


def address_kind(address: IP) -> str:
    """One of: public, loopback (this machine), private, link-local, special-purpose."""
    return classify(address).kind


@define(frozen=True)
class AddressPolicy:
    """Which addresses the registry connects to: public ones always, loopback and private ones when allowed."""

    allow_loopback: bool = False
    allow_private: bool = False

    def refusal(self, address: IP) -> str | None:
        """Why the registry will not connect to this address, or None when it may."""
        found = classify(address)
        if found.kind == PUBLIC or (found.kind == LOOPBACK and self.allow_loopback):
            return None
        if found.kind == PRIVATE and self.allow_private:
            return None
        flag = {LOOPBACK: "--allow-loopback-nodes", PRIVATE: "--allow-private-nodes"}.get(found.kind)
        allow = f" (a registry started with {flag} does)" if flag else ""
        return f"{found}, which this registry does not probe{allow}"


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for a host."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def allowed_addresses(url: NodeUrl, policy: AddressPolicy, resolver: Resolver, timeout_s: float) -> list[IP]:
    """The node's addresses, every one allowed by the policy, resolved before any connection is made."""
    literal = url.ip
    if literal is not None:
        found: list[IP] = [plain(literal)]
    else:
        try:
            async with asyncio.timeout(timeout_s):
                names = await resolver(url.hostname, url.port)
            found = list(dict.fromkeys(plain(ipaddress.ip_address(name.partition("%")[0])) for name in names))
        except (OSError, TimeoutError, ValueError, UnicodeError):
            raise AddressError(f"host {url.hostname!r} could not be resolved") from None
        if not found:
            raise AddressError(f"host {url.hostname!r} has no address")
    for address in found:
        reason = policy.refusal(address)
        if reason is not None:
            said = f"{address} is" if literal is not None else f"{url.hostname!r} resolves to {address},"
            raise AddressError(f"{said} {reason}")
    return found


def endpoint_keys(url: NodeUrl, addresses: Iterable[IP]) -> list[str]:
    """The keys two registrations of one endpoint share: the host (every loopback address is one), port and path.

    A DNS name also claims its loopback and private addresses; its public ones are left out, because unrelated
    sites share public addresses (name-based hosting, tunnels) and are told apart by name.
    """
    tail = f":{url.port}{url.path}"
    literal = url.ip
    if literal is not None:
        return [_address_key(plain(literal)) + tail]
    keys = [f"name:{url.hostname}{tail}"]
    keys += [_address_key(a) + tail for a in addresses if address_kind(a) in (LOOPBACK, PRIVATE)]
    return list(dict.fromkeys(keys))


def _address_key(address: IP) -> str:
    return LOOPBACK if address_kind(address) == LOOPBACK else str(plain(address))
