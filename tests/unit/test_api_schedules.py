"""``GET /api/schedules/preview`` with the fixed clock (2024-01-01T12:00:00Z)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from scheduler_service import cron
from scheduler_service.clock import FixedClock, iso_utc
from scheduler_service.services.schedule_preview import describe
from tests.conftest import START

PREVIEW = "/api/schedules/preview"


def preview(client: FlaskClient, **query: Any) -> dict[str, Any]:
    response = client.get(PREVIEW, query_string=query)
    assert response.status_code == 200, response.json
    assert response.json["success"] is True
    data: dict[str, Any] = response.json["data"]
    return data


def test_the_issue_example(client: FlaskClient) -> None:
    data = preview(client, schedule="0 30 9-17 * * 1-5", timezone="America/New_York", count=3)
    assert data == {
        "schedule": "0 30 9-17 * * 1-5",
        "timezone": "America/New_York",
        "description": "At 30 minutes past the hour, between 09:00 and 17:59, Monday through "
        "Friday",
        # 2024-01-01 is a Monday; 12:00Z is 07:00 EST, so 09:30 EST (14:30Z) is next.
        "nextRunTimes": ["2024-01-01T14:30:00.000Z", "2024-01-01T15:30:00.000Z",
                         "2024-01-01T16:30:00.000Z"],
    }


def test_defaults_utc_now_and_five(client: FlaskClient) -> None:
    data = preview(client, schedule="  0  */5 * * * * ")
    assert data["schedule"] == "0 */5 * * * *"
    assert data["timezone"] == "UTC"
    assert data["description"] == "Every 5 minutes"
    assert data["nextRunTimes"] == [f"2024-01-01T12:{m:02d}:00.000Z" for m in (5, 10, 15, 20, 25)]


def test_the_times_are_the_schedulers_across_a_dst_change(client: FlaskClient) -> None:
    data = preview(client, schedule="0 30 2 * * *", timezone="America/New_York",
                   **{"from": "2026-03-07T00:00:00Z"}, count=3)  # fmt: skip
    assert data["nextRunTimes"] == [
        "2026-03-07T07:30:00.000Z", "2026-03-08T07:00:00.000Z", "2026-03-09T06:30:00.000Z"]
    times, current = [], START.replace(year=2026, month=3, day=7, hour=0)
    for _ in range(3):
        current = cron.next_fire_time("0 30 2 * * *", current, "America/New_York")
        times.append(iso_utc(current))
    assert data["nextRunTimes"] == times


def test_from_is_exclusive_and_takes_an_offset(client: FlaskClient) -> None:
    data = preview(client, schedule="0 0 * * * *", count=2, **{"from": "2026-01-01T10:00:00+02:00"})
    assert data["nextRunTimes"] == ["2026-01-01T09:00:00.000Z", "2026-01-01T10:00:00.000Z"]


def test_aliases_and_fifty(client: FlaskClient, clock: FixedClock) -> None:
    data = preview(client, schedule="@hourly", count=50)
    assert data["description"] == "Every hour"
    assert len(data["nextRunTimes"]) == 50
    assert data["nextRunTimes"][0] == "2024-01-01T13:00:00.000Z"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "schedule"),
        ({"schedule": "not a cron"}, "schedule"),
        ({"schedule": "0 0 0 30 2 *"}, "schedule"),  # never fires
        ({"schedule": "* * * * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"schedule": "* * * * * *", "timezone": ""}, "timezone"),
        ({"schedule": "* * * * * *", "count": "51"}, "count"),
        ({"schedule": "* * * * * *", "count": "0"}, "count"),
        ({"schedule": "* * * * * *", "count": "five"}, "count"),
        # ASCII digits only, as every query integer: int() would take each of these.
        ({"schedule": "* * * * * *", "count": "+5"}, "count"),
        ({"schedule": "* * * * * *", "count": " 5"}, "count"),
        ({"schedule": "* * * * * *", "count": "\u0665"}, "count"),  # Arabic-Indic 5
        ({"schedule": "* * * * * *", "count": "1_0"}, "count"),
        ({"schedule": "* * * * * *", "from": "yesterday"}, "from"),
        ({"schedule": "* * * * * *", "from": "2026-01-01T00:00:00"}, "from"),  # no offset
        ({"schedule": "* * * * * *", "from": "0001-01-01T00:00:00+01:00"}, "from"),
        ({"schedule": "* * * * * *", "from": "3000-01-01T00:00:00Z"}, "from"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client: FlaskClient, query: dict[str, str],
                                             field: str) -> None:  # fmt: skip
    response = client.get(PREVIEW, query_string=query)
    assert response.status_code == 400
    assert response.json["success"] is False
    assert response.json["error"]["code"] == "VALIDATION_ERROR"
    assert list(response.json["error"]["details"]) == [field]


def test_a_parameter_given_twice_is_a_400(client: FlaskClient) -> None:
    response = client.get(f"{PREVIEW}?schedule=*+*+*+*+*+*&count=1&count=50")
    assert response.status_code == 400
    assert list(response.json["error"]["details"]) == ["count"]


@pytest.mark.parametrize(
    ("schedule", "text"),
    [
        ("0 0 9 * * mon-fri", "At 09:00, Monday through Friday"),
        ("0 0 0 13 * 5", "At 00:00, on day 13 of the month, or on Friday"),
        ("0 0 0 * * 1#1", "At 00:00, on the first Monday of the month"),
        ("@daily", "At 00:00"),
        ("*/30 * * * * *", "Every 30 seconds"),
    ],
)
def test_descriptions(schedule: str, text: str) -> None:
    assert describe(schedule) == text
