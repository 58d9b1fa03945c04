"""Optional encryption at rest of a job's secrets (Fernet, from ``cryptography``).

With ``ENCRYPTION_KEY`` set, every header value of a job, its ``signingSecret`` and its
``alertEndpoint`` (whose token may sit anywhere, the path included) are stored as
``enc:v1:<Fernet token>``; header names stay readable. So is the endpoint when it has
userinfo, a query or a fragment (the parts responses mask); others stay readable. The
first key encrypts; every listed key decrypts, so keys are rotated by putting a new key
first, running ``flask --app wsgi jobs reencrypt``, then dropping the old key. Values
stored before encryption was turned on are read as they are and sealed on the job's next
update (or by ``reencrypt``).
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from scheduler_service.delivery.masking import has_url_secrets
from scheduler_service.errors import DecryptionError

PREFIX = "enc:v1:"
UNREADABLE = "<encrypted>"


class HeaderCipher:
    def __init__(self, keys: tuple[str, ...] = ()) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys]) if keys else None

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def seal(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Headers as they are to be stored."""
        if self._fernet is None:
            return dict(headers)
        fernet = self._fernet
        return {
            name: value if value.startswith(PREFIX)
            else PREFIX + fernet.encrypt(value.encode()).decode()
            for name, value in headers.items()
        }

    def open(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Headers as they are to be sent (and, masked, shown)."""
        return {name: self._open_value(value) for name, value in headers.items()}

    def open_for_display(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Like ``open``, but a value no key opens shows as ``<encrypted>`` instead of failing."""
        shown = {}
        for name, value in headers.items():
            try:
                shown[name] = self._open_value(value)
            except DecryptionError:
                shown[name] = UNREADABLE
        return shown

    def rotate(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Re-encrypt every value with the first key."""
        return self.seal(self.open(headers))

    def seal_url(self, url: str) -> str:
        """The endpoint as it is to be stored: sealed whole if it has parts that are masked
        when shown (userinfo, query, fragment)."""
        if self._fernet is None or url.startswith(PREFIX) or not has_url_secrets(url):
            return url
        return PREFIX + self._fernet.encrypt(url.encode()).decode()

    def open_url(self, stored: str) -> str:
        """The endpoint as it is to be requested."""
        return self._open_value(stored)

    def open_url_for_display(self, stored: str) -> str:
        try:
            return self._open_value(stored)
        except DecryptionError:
            return UNREADABLE

    def rotate_url(self, stored: str) -> str:
        return self.seal_url(self.open_url(stored))

    def seal_secret(self, secret: str | None) -> str | None:
        """A job's ``signingSecret`` or ``alertEndpoint`` as it is to be stored (sealed like
        a header value)."""
        if self._fernet is None or secret is None or secret.startswith(PREFIX):
            return secret
        return PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open_secret(self, stored: str | None) -> str | None:
        """A job's ``signingSecret`` as it signs, or ``alertEndpoint`` as it is requested."""
        return None if stored is None else self._open_value(stored)

    def open_secret_for_display(self, stored: str | None) -> str | None:
        """Like ``open_secret``, but one no key opens shows as ``<encrypted>``."""
        return None if stored is None else self.open_url_for_display(stored)

    def rotate_secret(self, stored: str | None) -> str | None:
        return self.seal_secret(self.open_secret(stored))

    def _open_value(self, value: str) -> str:
        if not value.startswith(PREFIX):
            return value
        if self._fernet is None:
            raise DecryptionError("job secrets are encrypted but ENCRYPTION_KEY is not set")
        try:
            return self._fernet.decrypt(value[len(PREFIX):].encode()).decode()
        except InvalidToken:
            raise DecryptionError("no key in ENCRYPTION_KEY opens a stored secret") from None


def check_key(key: str) -> None:
    """Raise ValueError unless ``key`` is a Fernet key (32 url-safe base64-encoded bytes)."""
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise ValueError(
            "each key must be a Fernet key: 32 url-safe base64-encoded bytes "
            "(make one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        ) from None
