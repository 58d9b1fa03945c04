"""Settings are declared once (``config.py``): reading, bounds, secrets, and the two
documents that list them (``.env.example`` and the README's configuration table)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from scheduler_service.config import Config, ServerConfig, variables
from scheduler_service.errors import ConfigError
from scheduler_service.schemas import JobCreateSchema
from scheduler_service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TABLES: list[type[Settings]] = [Config, ServerConfig]
# Read by libraries, not by the service's own declarations, and documented beside them.
DOCUMENTED_ELSEWHERE = {"PROMETHEUS_MULTIPROC_DIR"}


def _declared() -> list[tuple[type[Settings], str, Any]]:
    return [(table, name, table.setting_of(name)) for table in TABLES
            for name, _ in table.settings()]  # fmt: skip


def _shown(default: Any) -> str | None:
    """A default as the documents write it; None when unset."""
    if default is None or default == ():
        return None
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def _readme_rows() -> dict[str, tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Configuration") : text.index("## Command line")]
    rows = {}
    for match in re.finditer(r"^\| `([A-Z_]+)` \| ([^|]+) \| (.*) \|$", section, re.MULTILINE):
        rows[match.group(1)] = (match.group(2).strip().strip("`"), match.group(3))
    return rows


def test_every_setting_is_in_the_readme_table_with_its_default_and_bounds() -> None:
    rows = _readme_rows()
    assert set(rows) == variables() | DOCUMENTED_ELSEWHERE
    for table, name, spec in _declared():
        default, meaning = rows[spec.variable]
        assert default == (_shown(getattr(table(), name)) or "unset"), spec.variable
        if spec.bounds is not None:
            assert f"{spec.bounds[0]}..{spec.bounds[1]}" in meaning, spec.variable


def test_every_setting_is_in_env_example_with_its_default() -> None:
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^(?:# )?([A-Z][A-Z_]+)=", text, re.MULTILINE))
    assert listed == variables() | DOCUMENTED_ELSEWHERE
    for table, name, spec in _declared():
        shown = _shown(getattr(table(), name))
        if shown is None:  # unset by default: only a commented example
            assert re.search(rf"^# {spec.variable}=", text, re.MULTILINE), spec.variable
        else:
            assert re.search(rf"^{spec.variable}={re.escape(shown)}$", text, re.MULTILINE), (
                spec.variable
            )


@pytest.mark.parametrize(
    ("table", "name"),
    [(table, name) for table, name, spec in _declared() if spec.bounds is not None],
)
def test_bounds_are_inclusive_and_a_value_outside_names_the_variable(
    table: type[Settings], name: str
) -> None:
    spec = table.setting_of(name)
    low, high = table.bounds_of(name)
    assert getattr(table.from_env({spec.variable: str(low)}), name) == low
    assert getattr(table.from_env({spec.variable: f" {high} "}), name) == high
    for outside in (low - 1, high + 1):
        with pytest.raises(ConfigError) as raised:
            table.from_env({spec.variable: str(outside)})
        assert str(raised.value) == (
            f"{spec.variable}: must be between {low} and {high} (got {outside})"
        )


def test_a_value_that_does_not_parse_is_one_line_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        Config.from_env({"MAX_CONCURRENT_JOBS": "ten"})
    assert str(raised.value) == "MAX_CONCURRENT_JOBS: must be a whole number (got 'ten')"
    with pytest.raises(ConfigError, match=r"^SCHEDULER_ENABLED: must be true or false"):
        Config.from_env({"SCHEDULER_ENABLED": "maybe"})
    with pytest.raises(ConfigError, match=r"^PORT: must be a whole number \(got 'abc'\)$"):
        ServerConfig.from_env({"PORT": "abc"})


def test_blank_means_the_default() -> None:
    assert Config.from_env({"MAX_CONCURRENT_JOBS": "  ", "LOG_LEVEL": ""}) == Config()


def test_secret_values_are_never_shown() -> None:
    secret = "mongodb://user:hunter2hunter2@db"
    with pytest.raises(ConfigError) as raised:
        Config.from_env({"MONGODB_URI": secret.replace("mongodb", "http")})
    assert "hunter2" not in str(raised.value)
    assert str(raised.value).startswith("MONGODB_URI: ")
    assert "hunter2" not in repr(Config(mongodb_uri=secret))
    assert "hunter2" not in repr(Config(api_keys=("hunter2hunter2hunter2",)))


def test_values_given_in_code_are_checked_like_the_environment() -> None:
    with pytest.raises(ConfigError, match=r"^LOG_FORMAT: "):
        Config().with_overrides(log_format="xml")
    with pytest.raises(ConfigError, match=r"^JOB_TIMEOUT: must be between"):
        Config().with_overrides(job_timeout_ms=10)
    assert Config().with_overrides(log_level="debug").log_level == "debug"


def test_rate_limit_off_words() -> None:
    for word in ("off", "OFF", "none", "false", "0"):
        assert not Config.from_env({"RATE_LIMIT": word}).rate_limited
        assert not Config(rate_limit=word).rate_limited
    assert Config().rate_limited


def test_the_job_schema_takes_its_retry_bounds_from_the_settings() -> None:
    schema = JobCreateSchema()
    job = {"schedule": "* * * * *", "endpoint": "https://example.com/"}
    for name, field_name in (("job_retry_attempts", "retryAttempts"),
                             ("job_retry_delay_ms", "retryDelay")):  # fmt: skip
        low, high = Config.bounds_of(name)
        assert not schema.validate({**job, field_name: low})
        assert not schema.validate({**job, field_name: high})
        assert field_name in schema.validate({**job, field_name: high + 1})
        assert field_name in schema.validate({**job, field_name: low - 1})


def test_server_address() -> None:
    # Loopback unless told otherwise: gunicorn is reached through nginx (issue 18).
    assert ServerConfig.from_env({}).address == "127.0.0.1:3000"
    assert ServerConfig.from_env({"PORT": "8080"}).address == "127.0.0.1:8080"
    assert ServerConfig.from_env({"BIND": "0.0.0.0:3000"}).address == "0.0.0.0:3000"
    assert ServerConfig.from_env({"PORT": "8080", "BIND": "127.0.0.1:9"}).address == "127.0.0.1:9"


@pytest.mark.parametrize("variable", ["API_KEYS", "ENCRYPTION_KEY"])
@pytest.mark.parametrize("raw", [",", " , ", ",,,", ", ,\t,"])
def test_a_key_list_that_is_set_but_holds_no_key_is_a_configuration_error(
    variable: str, raw: str
) -> None:
    """``API_KEYS=","`` parsed to no keys and left the API open (issue 18)."""
    with pytest.raises(ConfigError, match=f"^{variable}: holds no key") as info:
        Config.from_env({variable: raw})
    assert "<hidden>" in str(info.value)
    assert Config.from_env({variable: ""}).settings  # empty is unset: no keys, no error


@pytest.mark.parametrize(
    "raw", ["\uff11\uff10", "\u0661\u0660", "1_0", "+10", "10.0", "1e1", "0x10"]
)
def test_whole_numbers_are_ascii_digits(raw: str) -> None:
    with pytest.raises(ConfigError, match=r"^MAX_CONCURRENT_JOBS: must be a whole number"):
        Config.from_env({"MAX_CONCURRENT_JOBS": raw})
    assert Config.from_env({"MAX_CONCURRENT_JOBS": " 10 "}).max_concurrent_jobs == 10
