"""Secrets masked in what is shown: header values and URL userinfo, query values and
fragments (``delivery/masking.py``, through ``schemas``)."""

from __future__ import annotations

import pytest

from scheduler_service.delivery.masking import has_url_secrets, mask_url
from scheduler_service.schemas import is_secret_header, mask_headers


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("Authorization", "Bearer abc.def", "Bearer ***"),
        ("authorization", "Basic dXNlcjpwYXNz", "Basic ***"),
        ("Authorization", "opaque-secret", "***"),
        ("Proxy-Authorization", "Digest u=1", "Digest ***"),
        ("Cookie", "session=abc; theme=dark", "***"),
        ("Set-Cookie", "a=b", "***"),
        ("X-Api-Key", "k-123", "***"),
        ("x-auth-token", "t", "***"),
        ("X-Client-Secret", "Bearer s", "Bearer ***"),
        ("X-Password", "correct horse battery staple", "***"),
        ("Content-Type", "application/json", "application/json"),
        ("Accept", "*/*", "*/*"),
    ],
)
def test_mask_headers(name: str, value: str, shown: str) -> None:
    assert mask_headers({name: value}) == {name: shown}


def test_mask_headers_leaves_input_alone() -> None:
    headers = {"Authorization": "Bearer x"}
    mask_headers(headers)
    assert headers == {"Authorization": "Bearer x"}


@pytest.mark.parametrize(
    ("name", "secret"),
    # Masked unless on the short list of headers that never carry a secret (issue 18).
    [("COOKIE", True), ("X-API-KEY", True), ("X-Request-Id", True), ("Content-Type", False),
     ("X-Authorization", True), ("Authentication", True), ("X-Auth", True),
     ("X-Credentials", True), ("X-Session", True), ("X-Jwt", True), ("X-Signature", True),
     ("accept", False), ("User-Agent", False)],
)
def test_is_secret_header(name: str, secret: bool) -> None:
    assert is_secret_header(name) is secret


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@api.example.com/hook", "https://***:***@api.example.com/hook"),
        ("https://sk_live_1@api.example.com:8443/h", "https://***@api.example.com:8443/h"),
        ("https://api.example.com/h?token=abc&api_key=k&page=2",
         "https://api.example.com/h?token=***&api_key=***&page=***"),
        ("https://api.example.com/h?sk_live_123", "https://api.example.com/h?***"),
        ("https://api.example.com/h?a=&b", "https://api.example.com/h?a=&***"),
        ("https://api.example.com/h#access_token=x", "https://api.example.com/h#***"),
        ("https://api.example.com/plain/path", "https://api.example.com/plain/path"),
        ("http://[::1]:8080/x?q=1", "http://[::1]:8080/x?q=***"),
    ],
)  # fmt: skip
def test_mask_url_hides_userinfo_query_values_and_fragment(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert has_url_secrets(url) is (url != shown)
