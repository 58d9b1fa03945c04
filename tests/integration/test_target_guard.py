"""SSRF protection of real attempts: what is refused is never sent, and the socket goes to
the address that was checked.

No traffic leaves the machine: names under ``.test`` are answered by a stand-in resolver,
and every connection passes through a spy that refuses any non-loopback address unless the
test routes that (stand-in public) address to a local server.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from urllib3.util import connection as urllib3_connection

from scheduler_service.delivery.attempt import AttemptRequest, perform
from scheduler_service.delivery.outcome import AttemptOutcome
from scheduler_service.delivery.session import new_session
from scheduler_service.delivery.target_guard import CheckedResolutions
from tests.support.http_target import HttpTarget
from tests.support.tls_target import TlsServer, serving_tls

HINT = "(set ALLOW_PRIVATE_TARGETS=true to allow private targets)"
PUBLIC = "93.184.215.14"  # stands for a public host; the spy routes it to a local server


@dataclass
class Resolver:
    """Answers for names under ``.test``; each name has successive answers (last repeats)."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0,
                    proto: int = 0, flags: int = 0) -> list[tuple[Any, ...]]:
        assert isinstance(host, str) and host.endswith(".test")
        if flags & socket.AI_NUMERICHOST or host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        served = sum(1 for name in self.calls if name == host)
        self.calls.append(host)
        sequence = self.answers[host]
        ips = sequence[min(served, len(sequence) - 1)]
        return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (ip, port or 0)) for ip in ips]


@dataclass
class Connections:
    """Every address urllib3 opened a socket to; ``routes`` sends stand-in public
    addresses to local servers, any other non-loopback address is refused unopened."""

    made: list[tuple[str, int]] = field(default_factory=list)
    routes: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    stub, real = Resolver(), socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".test"):
            return stub.getaddrinfo(host, *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return stub


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> Connections:
    spy, real = Connections(), urllib3_connection.create_connection

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address
        spy.made.append((host, port))
        if (host, port) in spy.routes:
            return real(spy.routes[(host, port)], *args, **kwargs)
        if not ipaddress.ip_address(host).is_loopback:  # a name here would be a bug too
            raise ConnectionRefusedError(f"test spy: no traffic to {host}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3_connection, "create_connection", create_connection)
    return spy


def attempt(session: requests.Session, url: str, allow_private: bool,
            **overrides: Any) -> AttemptOutcome:
    return perform(AttemptRequest(url=url, method="POST", headers={}, body={"a": 1},
                                  timeout_s=5.0, max_response_bytes=4096,
                                  allow_private=allow_private, **overrides), session)


def assert_refused(outcome: AttemptOutcome, message: str) -> None:
    assert (outcome.success, outcome.status_code, outcome.retryable) == (False, None, False)
    assert outcome.error_message == message


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize(("url", "message"), [
    ("http://169.254.169.254/latest/meta-data/",
     "169.254.169.254 is a cloud metadata address (never allowed)"),
    ("http://[fd00:ec2::254]/latest/meta-data/",
     "fd00:ec2::254 is a cloud metadata address (never allowed)"),
    ("http://100.100.100.200/latest/meta-data/",
     "100.100.100.200 is a cloud metadata address (never allowed)"),
    ("http://169.254.10.1:8080/", "169.254.10.1 is a link-local address (never allowed)"),
])
def test_metadata_and_link_local_targets_are_never_contacted(
    session: requests.Session, connections: Connections, allow_private: bool, url: str,
    message: str
) -> None:
    assert_refused(attempt(session, url, allow_private), f"target refused: {message}")
    assert connections.made == []


def test_loopback_is_refused_without_the_setting_and_reached_with_it(
    session: requests.Session, connections: Connections, target: HttpTarget
) -> None:
    refused = attempt(session, target.url("/hook"), allow_private=False)
    assert_refused(refused, f"target refused: 127.0.0.1 is a loopback address {HINT}")
    assert connections.made == [] and target.requests == []

    allowed = attempt(session, target.url("/hook"), allow_private=True)
    assert (allowed.success, allowed.status_code) == (True, 200)
    [received] = target.requests_for("/hook")
    assert received.header("Host") == f"127.0.0.1:{target.port}"
    assert connections.made == [("127.0.0.1", target.port)]


def test_a_policy_is_per_attempt_on_a_shared_session(
    session: requests.Session, connections: Connections, target: HttpTarget
) -> None:
    # A kept-alive connection opened under one policy is not a way around the other.
    assert attempt(session, target.url("/a"), allow_private=True).success
    refused = attempt(session, target.url("/b"), allow_private=False)
    assert refused.error_message == f"target refused: 127.0.0.1 is a loopback address {HINT}"
    assert target.requests_for("/b") == []


@pytest.mark.parametrize(("ips", "message"), [
    (["10.0.0.1"], f"internal.test resolves to 10.0.0.1, a private address {HINT}"),
    (["127.0.0.1"], f"internal.test resolves to 127.0.0.1, a loopback address {HINT}"),
    ([PUBLIC, "192.168.0.10"],  # any address refused: the whole name is
     f"internal.test resolves to 192.168.0.10, a private address {HINT}"),
    (["::1"], f"internal.test resolves to ::1, a loopback address {HINT}"),
    (["::ffff:169.254.169.254"],
     "internal.test resolves to ::ffff:a9fe:a9fe, a cloud metadata address (never allowed)"),
])
def test_a_name_that_resolves_to_a_forbidden_address_is_refused(
    session: requests.Session, resolver: Resolver, connections: Connections, ips: list[str],
    message: str
) -> None:
    resolver.answers["internal.test"] = [ips]
    outcome = attempt(session, "http://internal.test/hook", allow_private=False)
    assert_refused(outcome, f"target refused: {message}")
    assert resolver.calls == ["internal.test"]
    assert connections.made == []


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(
    session: requests.Session, resolver: Resolver, connections: Connections, target: HttpTarget
) -> None:
    resolver.answers["public.test"] = [[PUBLIC]]
    connections.routes[(PUBLIC, 80)] = ("127.0.0.1", target.port)
    outcome = attempt(session, "http://public.test/hook", allow_private=False)
    assert (outcome.success, outcome.status_code) == (True, 200)
    assert connections.made == [(PUBLIC, 80)]
    [received] = target.requests_for("/hook")
    assert received.header("Host") == "public.test"


def test_dns_rebinding_cannot_move_the_connection(
    resolver: Resolver, connections: Connections, target: HttpTarget
) -> None:
    # The first answer is checked and pinned; a second resolution would say 127.0.0.1.
    resolver.answers["rebind.test"] = [[PUBLIC], ["127.0.0.1"]]
    connections.routes[(PUBLIC, target.port)] = ("127.0.0.1", target.port)
    url = f"http://rebind.test:{target.port}/hook"
    monotonic = [100.0]
    session = new_session(CheckedResolutions(ttl_s=10.0, now=lambda: monotonic[0]))

    outcome = attempt(session, url, allow_private=False)
    assert outcome.success, outcome.error_message
    assert resolver.calls == ["rebind.test"]  # resolved once: urllib3 got the IP, not the name
    assert connections.made == [(PUBLIC, target.port)]  # never ("rebind.test", port)
    [received] = target.requests_for("/hook")
    assert received.header("Host") == f"rebind.test:{target.port}"

    # Within the resolution's TTL the next attempt goes to the address checked before.
    monotonic[0] += 9.9
    assert attempt(session, url, allow_private=False).success
    assert resolver.calls == ["rebind.test"]
    assert connections.made == [(PUBLIC, target.port)] * 2  # HTTP/1.0 target: a new socket

    # After it, the attempt resolves again, sees the rebound address, and sends nothing.
    monotonic[0] += 0.1
    again = attempt(session, url, allow_private=False)
    assert_refused(again, f"target refused: rebind.test resolves to 127.0.0.1, "
                          f"a loopback address {HINT}")
    assert resolver.calls == ["rebind.test", "rebind.test"]
    assert connections.made == [(PUBLIC, target.port)] * 2
    assert len(target.requests_for("/hook")) == 2
    session.close()


@pytest.mark.parametrize(("location", "message"), [
    ("http://10.0.0.1/admin", f"10.0.0.1 is a private address {HINT}"),
    ("http://internal.test/admin", f"internal.test resolves to 10.0.0.1, a private address {HINT}"),
    ("http://169.254.169.254/latest/meta-data/",
     "169.254.169.254 is a cloud metadata address (never allowed)"),
    ("LOOPBACK", f"127.0.0.1 is a loopback address {HINT}"),
])
def test_a_redirect_to_a_forbidden_address_is_refused(
    session: requests.Session, resolver: Resolver, connections: Connections,
    target: HttpTarget, location: str, message: str
) -> None:
    resolver.answers["public.test"] = [[PUBLIC]]
    resolver.answers["internal.test"] = [["10.0.0.1"]]
    connections.routes[(PUBLIC, 80)] = ("127.0.0.1", target.port)
    if location == "LOOPBACK":  # the very server that answered, by its loopback address
        location = target.url("/admin")
    target.redirect("/start", location, status=307)

    outcome = attempt(session, "http://public.test/start", allow_private=False,
                      follow_redirects=True)
    assert_refused(outcome, f"redirect to {location}: target refused: {message}")
    assert connections.made == [(PUBLIC, 80)]  # the first hop only
    assert [r.path for r in target.requests] == ["/start"]


def test_a_redirect_to_metadata_is_refused_even_with_private_targets_allowed(
    session: requests.Session, connections: Connections, target: HttpTarget
) -> None:
    target.redirect("/start", "http://169.254.169.254/latest/meta-data/iam/", status=302)
    outcome = attempt(session, target.url("/start"), allow_private=True, follow_redirects=True)
    assert_refused(outcome, "redirect to http://169.254.169.254/latest/meta-data/iam/: "
                            "target refused: 169.254.169.254 is a cloud metadata address "
                            "(never allowed)")
    assert connections.made == [("127.0.0.1", target.port)]


# TLS: the socket goes to the checked IP, SNI and the certificate check use the name.


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    with serving_tls(tmp_path) as server:
        yield server


def test_https_to_the_pinned_address_verifies_the_certificate_for_the_name(
    session: requests.Session, resolver: Resolver, connections: Connections,
    tls_server: TlsServer
) -> None:
    resolver.answers["secure.test"] = [["127.0.0.1"]]
    session.verify = str(tls_server.cert)  # trust the test certificate, and only it
    outcome = attempt(session, f"https://secure.test:{tls_server.port}/", allow_private=True)
    assert (outcome.success, outcome.response_body) == (True, f"secure.test:{tls_server.port}")
    assert tls_server.server_names == ["secure.test"]  # SNI: the name, not 127.0.0.1
    assert connections.made == [("127.0.0.1", tls_server.port)]


def test_https_still_refuses_a_certificate_for_another_name(
    session: requests.Session, resolver: Resolver, tls_server: TlsServer
) -> None:
    resolver.answers["other.test"] = [["127.0.0.1"]]
    session.verify = str(tls_server.cert)
    outcome = attempt(session, f"https://other.test:{tls_server.port}/", allow_private=True)
    assert outcome.error_message is not None
    assert outcome.error_message.startswith("TLS error: ")
    assert "other.test" in outcome.error_message
    assert tls_server.server_names == ["other.test"]
