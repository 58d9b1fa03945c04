"""Which addresses a job may reach (SSRF protection): pure policy plus name resolution.

Always refused: cloud metadata addresses and link-local ones (169.254.0.0/16, fe80::/10).
Refused unless private targets are allowed (``ALLOW_PRIVATE_TARGETS``): every address that
is not globally routable: loopback, private (RFC 1918, fc00::/7), shared/CGNAT
(100.64.0.0/10), unspecified, multicast, reserved, documentation and the like.
An IPv6 address that carries an IPv4 one (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, NAT64
``64:ff9b::/96``) is judged by both, so ``::ffff:169.254.169.254`` is a metadata address.

A host name is refused if ANY of its addresses is refused: the caller connects only to an
address checked here (see ``session.py``), never to a second resolution of the name.

:class:`CheckedResolutions` keeps a name's checked addresses for a few seconds, so that a
job firing every second does not resolve and judge its target on every request (a
``getaddrinfo`` and the judgement: about 80 us, and a GIL hand-off, per request). It keeps
only answers that passed the check, keyed by the policy they passed under, so it never
hands out an address this module would refuse now: the policy is a pure function of the
address and ``allow_private``. A name that moves meanwhile is reached at its old (checked)
address until the entry expires; a refusal is never kept (the next request resolves again).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable

from scheduler_service.errors import TargetRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack
    "fd00:ec2::254",  # AWS over IPv6
    "100.100.100.200",  # Alibaba Cloud
))
SHARED_NETWORK = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
NAT64_NETWORK = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix

ALLOW_HINT = "set ALLOW_PRIVATE_TARGETS=true to allow private targets"


def _judged(address: IPAddress) -> list[IPAddress]:
    """The addresses that decide: an IPv4-mapped address is its IPv4 address; a 6to4 or
    NAT64 one reaches an IPv4 address through a gateway, so both count."""
    if not isinstance(address, ipaddress.IPv6Address):
        return [address]
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour, address]
    if address in NAT64_NETWORK:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), address]
    return [address]


def _kind(address: IPAddress) -> tuple[str, bool] | None:
    """What is wrong with one address, and whether it is refused even when private targets
    are allowed; None for a public address."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address", True
    if address.is_link_local:
        return "a link-local address", True
    for test, name in (
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_multicast, "a multicast address"),
        (address in SHARED_NETWORK, "a shared (carrier-grade NAT) address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "a non-public address"),
    ):
        if test:
            return name, False
    return None


def _verdict(address: IPAddress, allow_private: bool) -> tuple[str, bool] | None:
    found = [kind for judged in _judged(address) if (kind := _kind(judged)) is not None]
    always = [kind for kind in found if kind[1]]
    if always:
        return always[0]
    if found and not allow_private:
        return found[0]
    return None


def refusal(address: IPAddress, allow_private: bool) -> str | None:
    """Why ``address`` may not be reached (``"a loopback address"``), or None if it may."""
    verdict = _verdict(address, allow_private)
    return None if verdict is None else verdict[0]


def check_addresses(host: str, addresses: list[IPAddress], allow_private: bool) -> None:
    """Raise ``TargetRefused`` if any of ``host``'s addresses is refused."""
    for address in addresses:
        verdict = _verdict(address, allow_private)
        if verdict is None:
            continue
        reason, always = verdict
        shown = str(address)
        literal = host.strip("[]").lower() == shown
        subject = f"{shown} is" if literal else f"{host} resolves to {shown},"
        hint = "never allowed" if always else ALLOW_HINT
        raise TargetRefused(f"target refused: {subject} {reason} ({hint})")


def resolve(host: str, port: int | None = None) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order, without duplicates.

    An IP literal resolves to itself without a query. Raises ``socket.gaierror``.
    """
    if not host:  # getaddrinfo(None) would answer with this machine's own addresses
        raise socket.gaierror(socket.EAI_NONAME, "no host name")
    found: list[IPAddress] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(sockaddr[0])
        if address not in found:
            found.append(address)
    if not found:
        raise socket.gaierror(socket.EAI_NONAME, f"no IPv4 or IPv6 address for {host}")
    return found


def checked_addresses(host: str, port: int | None, allow_private: bool) -> list[IPAddress]:
    """Resolve ``host`` now and return its addresses if every one is allowed."""
    addresses = resolve(host, port)
    check_addresses(host, addresses, allow_private)
    return addresses


def literal_refusal(host: str, allow_private: bool) -> str | None:
    """For the API: the refusal message of a host that is an IP literal (in any form the
    resolver accepts, e.g. ``127.1``) or ``localhost``, without any DNS query; None for a
    name, which is judged when the request is made."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        addresses: list[IPAddress] = [ipaddress.IPv4Address("127.0.0.1")]
    else:
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM,
                                       flags=socket.AI_NUMERICHOST)
        except (socket.gaierror, UnicodeError, ValueError):
            return None  # a name, not a literal
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos
                     if info[0] in (socket.AF_INET, socket.AF_INET6)]
    try:
        check_addresses(host, addresses, allow_private)
    except TargetRefused as refused:
        return refused.message
    return None


RESOLUTION_TTL_S = 10.0  # how long a name's checked addresses are reused
RESOLUTION_ENTRIES = 256  # names kept at most (the oldest go first)


class CheckedResolutions:
    """``checked_addresses`` with its answers kept ``ttl_s`` seconds (see the module's
    docstring). One per Session (each worker thread has its own): no lock."""

    def __init__(self, ttl_s: float = RESOLUTION_TTL_S, entries: int = RESOLUTION_ENTRIES,
                 now: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.ttl_s = ttl_s
        self.entries = entries
        self._now = now
        self._kept: dict[tuple[str, int | None, bool], tuple[float, list[IPAddress]]] = {}

    def checked_addresses(self, host: str, port: int | None,
                          allow_private: bool) -> list[IPAddress]:  # fmt: skip
        """As :func:`checked_addresses`, from what was checked under the same policy less
        than ``ttl_s`` ago when there is one."""
        key = (host, port, allow_private)
        now = self._now()
        kept = self._kept.get(key)
        if kept is not None and now < kept[0]:
            return list(kept[1])
        addresses = checked_addresses(host, port, allow_private)  # raises: nothing kept
        self._kept.pop(key, None)
        while len(self._kept) >= self.entries:
            del self._kept[next(iter(self._kept))]
        self._kept[key] = (now + self.ttl_s, addresses)
        return list(addresses)

    def clear(self) -> None:
        self._kept.clear()
