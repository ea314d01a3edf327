"""Where a webhook may go: only to public addresses (server-side request forgery is the attack), checked after DNS
resolution at registration and again at every delivery, and the delivery connects to the very address that was checked
(the Host header and TLS SNI carry the name), so a name that is re-pointed at an internal address between the check
and the connection (DNS rebinding) reaches nothing. Exceptions are named in policies/webhooks.yaml `urls.allow`.

A refusal names its reason (`loopback`, `private`, …), never a resolved address: an error that echoed what an internal
name resolves to would be a map of the network for whoever may register endpoints."""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping, Protocol, Sequence, Union
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from govern.policy import Policy
    from govern.runtime import Runtime

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# Cloud instance-metadata services hand out credentials to whoever asks from inside: never reachable, allow-list or not.
# AWS/GCP/Azure/Huawei/Oracle 169.254.169.254, AWS IPv6 fd00:ec2::254, AWS ECS 169.254.170.2, AWS DNS 169.254.169.253,
# Alibaba Cloud 100.100.100.200, Tencent Cloud 169.254.0.23, Oracle 192.0.0.192.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.169.253", "fd00:ec2::254", "fd00:ec2::253", "100.100.100.200",
    "169.254.0.23", "192.0.0.192",
))
METADATA_NAMES = frozenset((
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
    "metadata.tencentyun.com", "metadata.azure.com",
))

REASONS = {
    "metadata": "a cloud instance-metadata address",
    "unspecified": "the unspecified address",
    "loopback": "a loopback address",
    "link_local": "a link-local address",
    "private": "a private network address (RFC 1918 or IPv6 unique-local)",
    "shared": "a carrier-grade NAT shared address (100.64.0.0/10)",
    "multicast": "a multicast address",
    "reserved": "a reserved or non-public address",
    "ip_spelling": "an IPv4 address spelled other than in dotted decimal (a.b.c.d)",
    "internal_name": "a name that only exists inside a network (.internal, .local, .localhost)",
    "unresolvable": "a name that does not resolve",
    "https_required": "https is required (plain http only with `govern serve --dev`)",
}

_V4_CLASSES: tuple[tuple[str, Network], ...] = tuple((reason, ipaddress.ip_network(net)) for reason, net in (
    ("unspecified", "0.0.0.0/8"), ("loopback", "127.0.0.0/8"), ("link_local", "169.254.0.0/16"), ("private", "10.0.0.0/8"),
    ("private", "172.16.0.0/12"), ("private", "192.168.0.0/16"), ("shared", "100.64.0.0/10"), ("multicast", "224.0.0.0/4"),
))
_V6_CLASSES: tuple[tuple[str, Network], ...] = tuple((reason, ipaddress.ip_network(net)) for reason, net in (
    ("loopback", "::1/128"), ("link_local", "fe80::/10"), ("private", "fc00::/7"), ("multicast", "ff00::/8"),
    ("reserved", "fec0::/10"),  # site-local, deprecated but still routed inside some networks
))
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_COMPAT = ipaddress.ip_network("::/96")  # IPv4-compatible (deprecated): ::a.b.c.d
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT IPv4-translated
_INTERNAL_SUFFIXES = (".internal", ".local", ".localhost", ".localdomain", ".home.arpa", ".intranet", ".lan")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, translated, 6to4, NAT64, Teredo client), if any."""
    if address.version != 6:
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in net for net in _NAT64) or address in _TRANSLATED:
        return low
    if address in _COMPAT and int(address) > 1:  # not :: or ::1, which are themselves
        return low
    return None


def classify(address: Address) -> str | None:
    """The reason an address is not public (a key of REASONS), or None when it is a public unicast address."""
    if address in METADATA_ADDRESSES:
        return "metadata"
    inner = embedded_ipv4(address)
    if inner is not None:
        return classify(inner) or (None if inner.is_global else "reserved")
    if address.is_unspecified:
        return "unspecified"
    for reason, net in _V4_CLASSES if address.version == 4 else _V6_CLASSES:
        if address in net:
            return reason
    if address.version == 4 and address == ipaddress.IPv4Address("255.255.255.255"):
        return "reserved"
    return None if address.is_global else "reserved"


# --- resolution: a port, so a test (or an air-gapped site) can answer names without a DNS server -----------------


class ResolutionFailed(Exception):
    pass


class Resolver(Protocol):
    def resolve(self, host: str, port: int) -> list[Address]:
        """Every A and AAAA address of `host`; ResolutionFailed when there is none."""


class SystemResolver:
    """The operating system's resolver (getaddrinfo: /etc/hosts, then DNS)."""

    def resolve(self, host: str, port: int) -> list[Address]:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError, OSError) as exc:
            raise ResolutionFailed(type(exc).__name__) from None
        out: list[Address] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in out:
                out.append(address)
        if not out:
            raise ResolutionFailed("no address")
        return out


@dataclass(frozen=True)
class StaticResolver:
    """A fixed table of names (tests, an air-gapped site); other names go to `fallback` when one is given."""

    table: Mapping[str, Sequence[str]]
    fallback: Resolver | None = None

    def resolve(self, host: str, port: int) -> list[Address]:
        if host in self.table:
            return [ipaddress.ip_address(a) for a in self.table[host]]
        if self.fallback is not None:
            return self.fallback.resolve(host, port)
        raise ResolutionFailed("unknown name")


# --- the allow-list (policies/webhooks.yaml urls.allow) --------------------------------------------------------------


@dataclass(frozen=True)
class AllowList:
    """Hosts (exact names) and networks (CIDR) that may be reached although they are not public. Metadata never."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> "AllowList":
        """Each entry a CIDR (10.20.0.0/16, fd12::/64, 10.1.2.3) or a host name; ValueError naming a bad one."""
        hosts, networks = set(), []
        for entry in entries:
            text = str(entry).strip().lower().rstrip(".")
            try:
                net = ipaddress.ip_network(text, strict=True)
            except ValueError as exc:
                if re.fullmatch(r"[0-9a-f:./]+", text) and (":" in text or "/" in text or text.replace(".", "").isdigit()):
                    raise ValueError(f"{entry!r}: not a network ({exc})") from None
                if not _valid_name(text):
                    raise ValueError(f"{entry!r}: neither a CIDR network nor a host name") from None
                hosts.add(text)
                continue
            if net.prefixlen < (8 if net.version == 4 else 32):
                raise ValueError(f"{entry!r}: too broad (at least /8 for IPv4, /32 for IPv6): name the receivers' networks")
            if any(a in net for a in METADATA_ADDRESSES if a.version == net.version):
                raise ValueError(f"{entry!r}: covers a cloud metadata address, which is never reachable")
            networks.append(net)
        return cls(frozenset(hosts), tuple(networks))

    def admits(self, host: str, address: Address) -> bool:
        if address in METADATA_ADDRESSES:
            return False
        if host in self.hosts:
            return True
        inner = embedded_ipv4(address)
        return any(address in net or (inner is not None and inner in net) for net in self.networks)


def _valid_name(host: str) -> bool:
    return 0 < len(host) <= 253 and all(_LABEL.match(label) for label in host.split("."))


# --- the check ----------------------------------------------------------------------------------------------------


class Refused(Exception):
    """A target that may not be contacted; `reason` is a key of REASONS (never an address)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def message(self) -> str:
        return REASONS.get(self.reason, self.reason)


@dataclass(frozen=True)
class Target:
    """A checked URL and the address it was checked at: the connection goes there and nowhere else."""

    url: str
    scheme: str
    host: str  # the name (or literal) as written: Host header and TLS server name
    port: int
    path: str  # path and query, as sent in the request line
    address: Address


@dataclass(frozen=True)
class Guard:
    """What decides whether a URL may be contacted: the allow-list and https rule of the policy, the resolver."""

    allow: AllowList = field(default_factory=AllowList)
    require_https: bool = True
    resolver: Resolver = field(default_factory=SystemResolver)

    @classmethod
    def of(cls, runtime: "Runtime") -> "Guard":
        """The guard of a running govern: policies/webhooks.yaml, https unless `govern serve --dev`, its resolver."""
        return cls.from_policy(runtime.policy, dev=runtime.settings.dev, resolver=getattr(runtime, "resolver", None))

    @classmethod
    def from_policy(cls, policy: "Policy", *, dev: bool = False, resolver: Resolver | None = None) -> "Guard":
        settings = policy.webhooks
        assert settings is not None, "policies/webhooks.yaml is loaded at start-up"
        return cls(allow=settings.allow, require_https=settings.require_https and not dev, resolver=resolver or SystemResolver())

    def check(self, url: str) -> Target:
        """The Target to connect to, or Refused. `url` has passed service.check_url (scheme, host, no credentials)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "http" and self.require_https:
            raise Refused("https_required")
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port or (443 if scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        addresses = self._addresses(host, port)
        for address in addresses:
            if self.allow.admits(host, address):
                continue
            reason = classify(address)
            if reason:
                raise Refused(reason)
        return Target(url=url, scheme=scheme, host=host, port=port, path=path, address=addresses[0])

    def _addresses(self, host: str, port: int) -> list[Address]:
        literal = host.split("%", 1)[0]  # an IPv6 zone (fe80::1%eth0) names an interface, not another address
        try:
            return [ipaddress.ip_address(literal)]
        except ValueError:
            pass
        try:
            # What inet_aton accepts (2130706433, 0x7f.1, 017700000001, 127.1) is an address to the resolver below
            # but a name to a reader: refuse any spelling but dotted decimal, naming the class when it is internal.
            packed = socket.inet_aton(host)
        except OSError:
            pass
        else:
            raise Refused(classify(ipaddress.IPv4Address(packed)) or "ip_spelling")
        if host in METADATA_NAMES:
            raise Refused("metadata")
        if host == "localhost" or host.endswith(_INTERNAL_SUFFIXES) or "." not in host:
            if host not in self.allow.hosts:
                raise Refused("loopback" if host == "localhost" or host.endswith(".localhost") else "internal_name")
        try:
            return self.resolver.resolve(host, port)
        except ResolutionFailed:
            raise Refused("unresolvable") from None


# --- the pinned connection ----------------------------------------------------------------------------------------


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = str(target.address)

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = str(target.address)
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # The certificate is checked against the name that was registered, not against the address.
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def connection(target: Target, timeout: float, context: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
    """An HTTP(S) connection to `target.address` that presents `target.host`; no proxy, no redirects followed."""
    if target.scheme == "https":
        return _PinnedHTTPS(target, timeout, context or ssl.create_default_context())
    return _PinnedHTTP(target, timeout)
