"""Standard Webhooks signatures on outgoing requests (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``), made by the ``standardwebhooks`` library.

The secrets are ``WEBHOOK_SIGNING_KEYS`` (every one signs, the first first) or, instead,
the job's own ``signingSecret``. The specification's ``webhook-signature`` is a
space-delimited list of signatures, and a receiver accepts the request when any of them
matches its secret: so a key is rotated by listing the new one first and the old one after
it until every receiver has the new one, then dropping the old one.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
# The specification's recommended secret sizes.
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
_B64 = "[A-Za-z0-9+/]"
# The same rule as ``secret_problem``, for the OpenAPI document: 24 to 64 bytes in base64.
SECRET_PATTERN = (f"^{SECRET_PREFIX}(?:{_B64}{{4}}){{8,20}}"
                  f"(?:{_B64}{{4}}(?:{_B64}{{2}}==)?|{_B64}{{2}}==|{_B64}{{3}}=)?$")
_BASE64 = re.compile(f"(?:{_B64}{{4}})*(?:{_B64}{{2}}==|{_B64}{{3}}=)?")
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` is not a usable ``whsec_`` secret, or None. The library itself
    accepts any text (it decodes leniently), so the check is strict here."""
    if not secret.startswith(SECRET_PREFIX):
        return f"must start with {SECRET_PREFIX}"
    encoded = secret[len(SECRET_PREFIX):]
    if not _BASE64.fullmatch(encoded):  # b64decode(validate=True) lets extra padding by
        return f"must be {SECRET_PREFIX} followed by base64"
    raw = base64.b64decode(encoded)
    if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
        return f"must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes (base64)"
    return None


def check_secret(secret: str) -> None:
    """Raise ValueError unless ``secret`` is a ``whsec_`` secret."""
    problem = secret_problem(secret)
    if problem is not None:
        raise ValueError(
            f"{problem} (make one with: python -c 'import base64, os; "
            f"print(\"{SECRET_PREFIX}\" + base64.b64encode(os.urandom(32)).decode())')"
        )


@dataclass(frozen=True)
class Signing:
    """How one attempt is signed: its secrets (the first first), id and time."""

    secrets: tuple[str, ...]
    message_id: str  # the tick's Idempotency-Key: the same for each attempt and replay
    timestamp: datetime  # the attempt's time; whole seconds are sent

    def headers(self, data: bytes | None) -> dict[str, str]:
        """The three headers for a request with body ``data`` (None: an empty body)."""
        text = (data or b"").decode("utf-8")  # the attempt sends JSON as UTF-8
        when = self.timestamp.astimezone(UTC)
        signatures = [Webhook(secret).sign(self.message_id, when, text) for secret in self.secrets]
        return {
            "webhook-id": self.message_id,
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": " ".join(signatures),
        }


def signed(headers: dict[str, str], signing: Signing, data: bytes | None) -> dict[str, str]:
    """``headers`` with the signature headers set (a job header of the same name, in any
    case, is replaced)."""
    kept = {name: value for name, value in headers.items()
            if name.lower() not in SIGNATURE_HEADERS}  # fmt: skip
    kept.update(signing.headers(data))
    return kept
