"""``GET /api/schedules/preview`` query parameters."""

from __future__ import annotations

from marshmallow import validate

from scheduler_service.cron_zones import DEFAULT_ZONE
from scheduler_service.schemas.fields import InstantInput, Schedule, Timezone
from scheduler_service.schemas.query import QueryInteger, QuerySchema

MAX_PREVIEW_COUNT = 50
DEFAULT_PREVIEW_COUNT = 5


class PreviewQuerySchema(QuerySchema):
    """``?schedule=&timezone=&from=&count=``: the next ``count`` fire times after ``from``
    (default now), 1 to 50, default 5."""

    schedule = Schedule(required=True)
    timezone = Timezone(load_default=DEFAULT_ZONE)
    from_ = InstantInput(data_key="from")  # absent: now
    count = QueryInteger(
        load_default=DEFAULT_PREVIEW_COUNT, validate=validate.Range(1, MAX_PREVIEW_COUNT)
    )
