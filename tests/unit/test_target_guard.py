"""The SSRF policy (no network: resolution is stubbed) and the executor handing its setting
to each attempt; the API's literal-target check is test_api_target_guard.py."""

from __future__ import annotations

import ipaddress
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from scheduler_service.clock import FixedClock
from scheduler_service.config import Config
from scheduler_service.delivery.target_guard import (
    CheckedResolutions,
    check_addresses,
    checked_addresses,
    literal_refusal,
    refusal,
    resolve,
)
from scheduler_service.errors import ConfigError, TargetRefused
from scheduler_service.records import Entry, Job
from scheduler_service.scheduler.executor import Executor

HINT = "(set ALLOW_PRIVATE_TARGETS=true to allow private targets)"
METADATA = "a cloud metadata address"
LINK_LOCAL = "a link-local address"


@pytest.mark.parametrize(("address", "reason"), [
    ("169.254.169.254", METADATA),
    ("fd00:ec2::254", METADATA),
    ("100.100.100.200", METADATA),
    ("::ffff:169.254.169.254", METADATA),  # IPv4-mapped
    ("64:ff9b::a9fe:a9fe", METADATA),  # NAT64 well-known prefix
    ("2002:a9fe:a9fe::1", METADATA),  # 6to4
    ("169.254.0.1", LINK_LOCAL),
    ("fe80::1", LINK_LOCAL),
    ("::ffff:169.254.10.10", LINK_LOCAL),
])
def test_metadata_and_link_local_are_refused_even_when_private_targets_are_allowed(
    address: str, reason: str
) -> None:
    ip = ipaddress.ip_address(address)
    assert refusal(ip, allow_private=False) == reason
    assert refusal(ip, allow_private=True) == reason


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "a loopback address"),
    ("127.255.0.9", "a loopback address"),
    ("::1", "a loopback address"),
    ("::ffff:127.0.0.1", "a loopback address"),
    ("10.0.0.1", "a private address"),
    ("172.16.5.4", "a private address"),
    ("192.168.1.1", "a private address"),
    ("::ffff:10.1.2.3", "a private address"),
    ("fc00::1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("100.64.0.1", "a shared (carrier-grade NAT) address"),
    ("100.127.255.254", "a shared (carrier-grade NAT) address"),
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("224.0.0.1", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("240.0.0.1", "a private address"),  # reserved; ipaddress counts 240/4 as private
    ("192.0.2.10", "a private address"),  # documentation (TEST-NET-1)
])
def test_non_public_addresses_are_refused_unless_allowed(address: str, reason: str) -> None:
    ip = ipaddress.ip_address(address)
    assert refusal(ip, allow_private=False) == reason
    assert refusal(ip, allow_private=True) is None


@pytest.mark.parametrize("address", [
    "93.184.215.14", "8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1",
    "2606:4700:4700::1111", "::ffff:8.8.8.8",
])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), allow_private=False) is None


def test_a_name_is_refused_if_any_of_its_addresses_is() -> None:
    addresses = [ipaddress.ip_address(a) for a in ("93.184.215.14", "10.0.0.7")]
    with pytest.raises(TargetRefused) as refused:
        check_addresses("mixed.test", addresses, allow_private=False)
    assert refused.value.message == (
        f"target refused: mixed.test resolves to 10.0.0.7, a private address {HINT}")
    check_addresses("mixed.test", addresses, allow_private=True)


def test_messages_name_the_address_and_say_what_to_do() -> None:
    with pytest.raises(TargetRefused) as metadata:
        check_addresses("169.254.169.254", [ipaddress.ip_address("169.254.169.254")], True)
    assert metadata.value.message == (
        "target refused: 169.254.169.254 is a cloud metadata address (never allowed)")
    with pytest.raises(TargetRefused) as loopback:
        check_addresses("[::1]", [ipaddress.ip_address("::1")], False)
    assert loopback.value.message == f"target refused: ::1 is a loopback address {HINT}"


def fake_getaddrinfo(table: dict[str, list[str]], calls: list[tuple[Any, ...]]) -> Any:
    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                    flags: int = 0) -> list[tuple[Any, ...]]:
        calls.append((host, flags))
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (ip, port or 0)) for ip in table[host]]
    return getaddrinfo


def test_resolve_returns_every_address_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    table = {"multi.test": ["93.184.215.14", "2606:4700::1", "93.184.215.14"]}
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo(table, calls))
    assert resolve("multi.test", 443) == [ipaddress.ip_address("93.184.215.14"),
                                          ipaddress.ip_address("2606:4700::1")]
    with pytest.raises(socket.gaierror):
        resolve("unknown.test")
    with pytest.raises(socket.gaierror):  # never getaddrinfo(None): that is this machine
        resolve("")
    assert [host for host, _ in calls] == ["multi.test", "unknown.test"]


def test_checked_addresses_resolves_and_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {"inside.test": ["10.0.0.1"], "outside.test": ["93.184.215.14"]}
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo(table, []))
    assert checked_addresses("outside.test", 80, False) == [ipaddress.ip_address("93.184.215.14")]
    with pytest.raises(TargetRefused, match=r"inside\.test resolves to 10\.0\.0\.1, a private"):
        checked_addresses("inside.test", 80, False)
    assert checked_addresses("inside.test", 80, True) == [ipaddress.ip_address("10.0.0.1")]


@pytest.mark.parametrize(("host", "allow_private", "expected"), [
    ("169.254.169.254", True, "169.254.169.254 is a cloud metadata address (never allowed)"),
    ("169.254.1.2", True, "169.254.1.2 is a link-local address (never allowed)"),
    ("fe80::1", True, "fe80::1 is a link-local address (never allowed)"),
    ("127.0.0.1", False, f"127.0.0.1 is a loopback address {HINT}"),
    ("127.1", False, f"127.1 resolves to 127.0.0.1, a loopback address {HINT}"),
    ("2130706433", False, f"2130706433 resolves to 127.0.0.1, a loopback address {HINT}"),
    ("::1", False, f"::1 is a loopback address {HINT}"),
    ("localhost", False, f"localhost resolves to 127.0.0.1, a loopback address {HINT}"),
    ("api.localhost", False,
     f"api.localhost resolves to 127.0.0.1, a loopback address {HINT}"),
    ("10.0.0.1", False, f"10.0.0.1 is a private address {HINT}"),
    ("127.0.0.1", True, None),
    ("localhost", True, None),
    ("10.0.0.1", True, None),
    ("93.184.215.14", False, None),
    ("example.com", False, None),  # a name: judged when the request is made
])
def test_literal_refusal(host: str, allow_private: bool, expected: str | None,
                         monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def numeric_only(*args: Any, **kwargs: Any) -> Any:
        assert kwargs.get("flags") == socket.AI_NUMERICHOST, "no DNS query at creation"
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    message = literal_refusal(host, allow_private)
    assert message == (None if expected is None else f"target refused: {expected}")


def test_the_setting_is_read_from_the_environment() -> None:
    assert Config.from_env({}).allow_private_targets is False
    assert Config.from_env({"ALLOW_PRIVATE_TARGETS": "true"}).allow_private_targets is True
    with pytest.raises(ConfigError, match=r"^ALLOW_PRIVATE_TARGETS: must be true or false"):
        Config.from_env({"ALLOW_PRIVATE_TARGETS": "maybe"})


# CheckedResolutions: a name's checked addresses reused for a few seconds, never a refused one.


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_checked_resolutions_are_reused_until_they_expire(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    table = {"moving.test": ["93.184.215.14"]}
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo(table, calls))
    clock = Monotonic()
    cache = CheckedResolutions(ttl_s=10.0, now=clock)
    first = [ipaddress.ip_address("93.184.215.14")]
    assert cache.checked_addresses("moving.test", 443, False) == first
    table["moving.test"] = ["93.184.215.99"]  # the name moves
    clock.now += 9.999
    assert cache.checked_addresses("moving.test", 443, False) == first
    assert len(calls) == 1
    clock.now += 0.001  # expired: resolved and checked again
    assert cache.checked_addresses("moving.test", 443, False) == [
        ipaddress.ip_address("93.184.215.99")]
    assert len(calls) == 2
    assert cache.checked_addresses("moving.test", 80, False)  # another port: its own entry
    assert len(calls) == 3


def test_checked_resolutions_never_serve_an_address_the_guard_refuses(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    table = {"inside.test": ["10.0.0.1"], "rebind.test": ["127.0.0.1"]}
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo(table, calls))
    clock = Monotonic()
    cache = CheckedResolutions(ttl_s=10.0, now=clock)
    # Allowed under ALLOW_PRIVATE_TARGETS: kept for that policy only.
    assert cache.checked_addresses("inside.test", 80, True) == [ipaddress.ip_address("10.0.0.1")]
    with pytest.raises(TargetRefused, match=r"inside\.test resolves to 10\.0\.0\.1, a private"):
        cache.checked_addresses("inside.test", 80, False)
    # A refusal is not kept: the next request resolves again (and is allowed once it may be).
    with pytest.raises(TargetRefused, match=r"rebind\.test resolves to 127\.0\.0\.1"):
        cache.checked_addresses("rebind.test", 80, False)
    table["rebind.test"] = ["93.184.215.14"]
    assert cache.checked_addresses("rebind.test", 80, False) == [
        ipaddress.ip_address("93.184.215.14")]
    # Metadata is refused under either policy, and so never kept.
    table["meta.test"] = ["169.254.169.254"]
    for allow_private in (True, False, True):
        with pytest.raises(TargetRefused, match="cloud metadata"):
            cache.checked_addresses("meta.test", 80, allow_private)
    assert [host for host, _ in calls] == ["inside.test", "inside.test", "rebind.test",
                                           "rebind.test", "meta.test", "meta.test", "meta.test"]


def test_checked_resolutions_keep_a_bounded_number_of_names(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    table = {f"n{i}.test": ["93.184.215.14"] for i in range(5)}
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo(table, calls))
    cache = CheckedResolutions(ttl_s=10.0, entries=3, now=Monotonic())
    for i in range(5):
        cache.checked_addresses(f"n{i}.test", 80, False)
    for i in (2, 3, 4):  # kept
        cache.checked_addresses(f"n{i}.test", 80, False)
    assert len(calls) == 5
    cache.checked_addresses("n0.test", 80, False)  # the oldest went first
    assert len(calls) == 6


def test_the_executor_passes_the_setting_to_the_attempt() -> None:
    clock = FixedClock(datetime(2024, 1, 1, tzinfo=UTC))
    job = Job(ObjectId(), "* * * * * *", "http://127.0.0.1/x")
    entry = Entry.scheduled(clock.now(), owner="owner", now=clock.now(), lease=timedelta(60))
    for allowed in (False, True):
        executor = Executor(None, None, Config(allow_private_targets=allowed),  # type: ignore[arg-type]
                            clock, "owner", None, threading.Event(),  # type: ignore[arg-type]
                            None, None)  # type: ignore[arg-type]  # no stores: builds a request
        assert executor._request(job, entry).allow_private is allowed
