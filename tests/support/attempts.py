"""One HTTP attempt as the scheduler makes it (``delivery/attempt.perform``), with what
the attempt tests leave alone filled in."""

from __future__ import annotations

from typing import Any

import requests

from scheduler_service.delivery.attempt import AttemptRequest, perform
from scheduler_service.delivery.outcome import AttemptOutcome


def attempt(session: requests.Session, url: str, **overrides: Any) -> AttemptOutcome:
    """A POST without body or headers, 5 s, 4 KiB of response kept; ``overrides`` are
    ``AttemptRequest``'s fields. Private targets allowed: the targets are on 127.0.0.1."""
    fields: dict[str, Any] = {"url": url, "method": "POST", "headers": {}, "body": None,
                              "timeout_s": 5.0, "max_response_bytes": 4096,
                              "allow_private": True, **overrides}  # fmt: skip
    return perform(AttemptRequest(**fields), session)
