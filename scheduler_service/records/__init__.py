"""The service's records, typed: a job (``job.py``), a tick in flight, its *entry*
(``entry.py``), and the execution record of one attempt (``execution.py``), with their
enums and a job's defaults (``enums.py``). Each is turned into its BSON document and back
in its own module, and nowhere else; the stores take and return these types.
"""

from scheduler_service.records.entry import Entry
from scheduler_service.records.enums import (
    DEFAULT_CONCURRENCY_POLICY,
    DEFAULT_EXECUTION_TYPE,
    DEFAULT_METHOD,
    DEFAULT_MISSED_RUN_POLICY,
    DEFAULT_PRIORITY,
    DEFAULT_TIMEZONE,
    MAX_PRIORITY,
    METHODS,
    MIN_PRIORITY,
    ConcurrencyPolicy,
    EntryState,
    ExecutionType,
    MissedRunPolicy,
    Status,
)
from scheduler_service.records.execution import ExecutionRecord
from scheduler_service.records.job import Job, search_text

__all__ = [
    "DEFAULT_CONCURRENCY_POLICY",
    "DEFAULT_EXECUTION_TYPE",
    "DEFAULT_METHOD",
    "DEFAULT_MISSED_RUN_POLICY",
    "DEFAULT_PRIORITY",
    "DEFAULT_TIMEZONE",
    "MAX_PRIORITY",
    "METHODS",
    "MIN_PRIORITY",
    "ConcurrencyPolicy",
    "Entry",
    "EntryState",
    "ExecutionRecord",
    "ExecutionType",
    "Job",
    "MissedRunPolicy",
    "Status",
    "search_text",
]
