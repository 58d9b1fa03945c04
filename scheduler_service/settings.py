"""How a setting is declared, read from the environment and checked (``config.py`` holds
the declarations).

``setting(...)`` makes a dataclass field that carries its ``Setting``: the environment
variable, the parser, a one-line doc, the bounds, and whether the value is secret.
``Settings.from_env`` reads every field of such a dataclass; a bad value raises
``ConfigError`` whose message is one line naming the variable (a secret's value is never
shown).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from typing import Any, NoReturn, Self

from scheduler_service.errors import ConfigError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
RATE_LIMIT_OFF = ("off", "none", "false", "0")  # RATE_LIMIT words that disable the limit
MIN_API_KEY_LENGTH = 16
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_KEY = "setting"
# The exit status of a bad configuration, however the service is started: gunicorn's worker
# boot-error code, so that a gunicorn master whose worker exits with it stops instead of
# booting new workers forever (a master that runs our hooks exits with it before forking).
CONFIG_ERROR_EXIT = 3


@dataclass(frozen=True)
class Setting:
    """How one environment variable is read and checked, and what it is for."""

    variable: str
    parse: Callable[[str], Any]  # raises ValueError with a message that completes "VAR: "
    doc: str
    bounds: tuple[int, int] | None = None  # inclusive
    secret: bool = False  # the value is never shown: not in errors, not in repr()

    def check(self, value: Any) -> None:
        if self.bounds is not None and not self.bounds[0] <= value <= self.bounds[1]:
            low, high = self.bounds
            raise ConfigError(f"{self.variable}: must be between {low} and {high} (got {value})")


def setting(
    variable: str, default: Any, parse: Callable[[str], Any], doc: str, *,
    bounds: tuple[int, int] | None = None, secret: bool = False,
) -> Any:  # fmt: skip
    """A dataclass field that knows its environment variable."""
    spec = Setting(variable, parse, doc, bounds, secret)
    return field(default=default, repr=not secret, metadata={_KEY: spec})


def exit_on_config_error(exc: ConfigError) -> NoReturn:
    """One line on stderr naming the variable, then exit with ``CONFIG_ERROR_EXIT``."""
    sys.stderr.write(f"configuration error: {exc.message}\n")
    sys.stderr.flush()
    sys.exit(CONFIG_ERROR_EXIT)


# -- parsers: raw text (stripped, never empty) -> value, or ValueError ---------------------


def integer(raw: str) -> int:
    """ASCII digits, with a minus sign if negative. (``int()`` also takes ``+5``, ``1_000``
    and other scripts' digits.)"""
    if not re.fullmatch(r"-?[0-9]{1,18}", raw):
        raise ValueError("must be a whole number")
    return int(raw, 10)


def boolean(raw: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ValueError("must be true or false")


def text(raw: str) -> str:
    return raw


def log_level(raw: str) -> str:
    if raw.upper() not in LOG_LEVELS:
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return raw.upper()


def log_format(raw: str) -> str:
    if raw.lower() not in ("text", "json"):
        raise ValueError("must be text or json")
    return raw.lower()


def write_concern(raw: str) -> str:
    if raw.lower() not in ("auto", "majority", "journaled", "1"):
        raise ValueError("must be auto, majority, journaled or 1")
    return raw.lower()


def mongodb_uri(raw: str) -> str:
    if not raw.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError("must start with mongodb:// or mongodb+srv://")
    return raw


def _key_list(raw: str) -> tuple[str, ...]:
    """Comma-separated keys. A value that is set but holds none (``,``) would turn the
    protection off by accident: it is an error, not "no keys" (unset or empty means that)."""
    keys = tuple(key.strip() for key in raw.split(",") if key.strip())
    if not keys:
        raise ValueError("holds no key; leave it unset or empty for none")
    return keys


def http_url(raw: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http or https URL")
    return raw


def fernet_keys(raw: str) -> tuple[str, ...]:
    from scheduler_service.crypto import check_key

    keys = _key_list(raw)
    for key in keys:
        check_key(key)
    return keys


def signing_keys(raw: str) -> tuple[str, ...]:
    from scheduler_service.delivery.signing import check_secret

    keys = _key_list(raw)
    for key in keys:
        check_secret(key)
    return keys


def api_keys(raw: str) -> tuple[str, ...]:
    keys = _key_list(raw)
    if any(len(key) < MIN_API_KEY_LENGTH for key in keys):
        raise ValueError(f"each key must be at least {MIN_API_KEY_LENGTH} characters")
    if any(not key.isprintable() or " " in key for key in keys):
        raise ValueError("keys must be printable and contain no spaces")
    return keys


MIN_SECRET_KEY_LENGTH = 32


def secret_key(raw: str) -> str:
    if len(raw) < MIN_SECRET_KEY_LENGTH:
        raise ValueError(f"must be at least {MIN_SECRET_KEY_LENGTH} characters")
    return raw


def rate_limit(raw: str) -> str:
    """``600 per minute``, ``10/second; 600/minute``...; ``off`` disables (empty string)."""
    if raw.lower() in RATE_LIMIT_OFF:
        return ""
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ValueError("must be like '600 per minute' or '10/second; 600/minute'") from None
    return raw


# Storages the installed packages can use (redis and memcached need their client packages).
_LIMIT_STORAGES = ("memory://", "mongodb://", "mongodb+srv://", "redis://", "rediss://",
                   "redis+sentinel://", "redis+cluster://", "memcached://")  # fmt: skip


def limit_storage(raw: str) -> str:
    if not raw.startswith(_LIMIT_STORAGES):
        raise ValueError("must start with memory://, mongodb://, mongodb+srv:// or redis://")
    return raw


# -- reading ---------------------------------------------------------------------------


class Settings:
    """``from_env``, ``with_overrides`` and ``check`` for a dataclass of ``setting``s."""

    @classmethod
    def settings(cls) -> Iterator[tuple[str, Setting]]:
        """(field name, Setting) of every setting, in declaration order."""
        for item in fields(cls):  # type: ignore[arg-type]
            yield item.name, item.metadata[_KEY]

    @classmethod
    def setting_of(cls, name: str) -> Setting:
        spec: Field[Any] = cls.__dataclass_fields__[name]  # type: ignore[attr-defined]
        return spec.metadata[_KEY]  # type: ignore[no-any-return]

    @classmethod
    def bounds_of(cls, name: str) -> tuple[int, int]:
        """The inclusive bounds of a whole-number setting (the job schemas use them too)."""
        bounds = cls.setting_of(name).bounds
        if bounds is None:
            raise LookupError(f"{name} has no bounds")
        return bounds

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Defaults, then the environment, then keyword overrides (for tests and the CLI)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, spec in cls.settings():
            raw = env.get(spec.variable)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[name] = spec.parse(raw.strip())
            except ValueError as exc:
                shown = "<hidden>" if spec.secret else repr(raw)
                raise ConfigError(f"{spec.variable}: {exc} (got {shown})") from None
        values.update(overrides)
        config = cls(**values)
        config.check()
        return config

    def with_overrides(self, **overrides: Any) -> Self:
        config = replace(self, **overrides)  # type: ignore[type-var]
        config.check()
        return config

    def check(self) -> None:
        """Every value, however it was given: bounds, and text re-read by its parser."""
        for name, spec in self.settings():
            value = getattr(self, name)
            spec.check(value)
            if isinstance(value, str) and value:
                try:
                    spec.parse(value)
                except ValueError as exc:
                    shown = "<hidden>" if spec.secret else repr(value)
                    raise ConfigError(f"{spec.variable}: {exc} (got {shown})") from None
