"""The error tree and its one table: every error the service raises on purpose is a
SchedulerError, and each class has one status and code (the contract's)."""

from __future__ import annotations

import pytest

from scheduler_service import errors
from scheduler_service.api.errors import ERRORS, STATUS_CODES, code_for_status, status_and_code
from scheduler_service.delivery.outcome import AttemptFailed, FailureKind
from scheduler_service.errors import (
    ConfigError,
    DecryptionError,
    ErrorCode,
    InvalidSchedule,
    SchedulerError,
    TargetRefused,
)

# The contract's codes and their statuses (its "Wire format" section).
CONTRACT_CODES = {
    "VALIDATION_ERROR": 400, "UNAUTHORIZED": 401, "NOT_FOUND": 404, "METHOD_NOT_ALLOWED": 405,
    "PAYLOAD_TOO_LARGE": 413, "UNSUPPORTED_MEDIA_TYPE": 415, "CONFLICT": 409,
    "RATE_LIMITED": 429, "INTERNAL_ERROR": 500, "UNAVAILABLE": 503,
}  # fmt: skip


def all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= all_subclasses(sub)
    return found


def test_the_codes_are_the_contracts() -> None:
    assert {code.value for code in ErrorCode} == set(CONTRACT_CODES)


def test_each_code_has_the_contracts_status_wherever_it_is_mapped() -> None:
    for status, code in (*ERRORS.values(), *((s, c) for s, c in STATUS_CODES.items())):
        assert CONTRACT_CODES[code.value] == status, (code, status)


def test_every_error_class_of_the_package_is_in_the_tree() -> None:
    declared = {value for value in vars(errors).values()
                if isinstance(value, type) and issubclass(value, Exception)}
    assert declared <= {SchedulerError, *all_subclasses(SchedulerError)}
    for cls in (TargetRefused, DecryptionError, AttemptFailed):
        assert issubclass(cls, SchedulerError)


def test_no_domain_error_carries_http() -> None:
    for cls in {SchedulerError, *all_subclasses(SchedulerError)}:
        assert not {"status", "code", "status_code"} & set(vars(cls)), cls


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidSchedule("bad"), 400, ErrorCode.VALIDATION_ERROR),  # through InvalidInput
        (ConfigError("X: bad"), 500, ErrorCode.INTERNAL_ERROR),  # the base's entry
        (TargetRefused("target refused"), 500, ErrorCode.INTERNAL_ERROR),
        (AttemptFailed(FailureKind.TIMEOUT, "timeout"), 500, ErrorCode.INTERNAL_ERROR),
    ],
)
def test_a_class_takes_its_nearest_listed_ancestors_entry(
    error: SchedulerError, status: int, code: ErrorCode
) -> None:
    assert status_and_code(error) == (status, code)


def test_statuses_without_a_code_fall_back_by_class() -> None:
    assert code_for_status(414) is ErrorCode.VALIDATION_ERROR
    assert code_for_status(502) is ErrorCode.INTERNAL_ERROR
    assert code_for_status(409) is ErrorCode.CONFLICT

