"""How many jobs were created on each day (``job_counts.days``), and what the list's walk
makes of it: how wide its next ``createdAt`` window may be.

A window sized from the density just met fails across a gap: after a stretch with no jobs
it grows 4-fold per empty read, and the first wide window to reach a busy day reads all of
it (measured: 7 s for a window that met a day of 100,000 jobs). The days' counts let the
walk cross an empty stretch in one read that ends a little way into the next busy day,
and keep a window from promising far more jobs than wanted. They only size windows: each
window is still read whole, so a job the counts missed (written around the API) is listed
all the same, at a higher cost.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DAY = timedelta(days=1)
# A window is narrowed until the days' counts expect at most this many jobs per job wanted.
EXPECTED_PER_WANTED = 8


def day_key(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d")


def parse_days(counts: dict[str, int], first: dict[str, datetime] | None = None,
               last: dict[str, datetime] | None = None) -> list[Span]:  # fmt: skip
    """The days with jobs, oldest first, each as the stretch its jobs were created in
    (the whole day where the first and last creation are not known)."""
    spans = []
    for key, n in counts.items():
        try:
            day = datetime.strptime(key, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            continue
        if n <= 0:
            continue
        low, high = (first or {}).get(key), (last or {}).get(key)
        if low is None or high is None or not day <= low <= high < day + DAY:
            low, high = day, day + DAY - timedelta(milliseconds=1)
        spans.append(Span(low, high + timedelta(milliseconds=1), n))
    return sorted(spans)


@dataclass(frozen=True, order=True)
class Span:
    start: datetime
    end: datetime  # exclusive
    count: int


class Days:
    def __init__(self, spans: list[Span], share: float = 1.0) -> None:
        self.spans = spans
        self.starts = [span.start for span in spans]
        self.share = share  # the fraction of all jobs the walk's index range holds

    def with_share(self, share: float) -> Days:
        return Days(self.spans, max(min(share, 1.0), 1e-6))

    def gap_ms(self, key: datetime, forward: bool) -> float:
        """How far from ``key`` the nearest stretch with jobs begins, walking on (0 inside
        one; 0 when none is ahead: the counts know nothing there)."""
        if not self.spans:
            return 0.0
        if forward:
            i = bisect_right(self.starts, key) - 1
            if i >= 0 and self.spans[i].end > key:
                return 0.0
            if i + 1 == len(self.spans):
                return 0.0
            return (self.spans[i + 1].start - key) / timedelta(milliseconds=1)
        i = bisect_left(self.starts, key) - 1  # the last stretch starting before key
        if i < 0 or self.spans[i].end >= key:
            return 0.0
        return (key - self.spans[i].end) / timedelta(milliseconds=1)

    def expected(self, key: datetime, width_ms: float, forward: bool) -> float:
        """Jobs of the walk's range the counts expect in the window (evenly spread within
        each stretch, and over the index range by ``share``)."""
        width = timedelta(milliseconds=width_ms)
        low, high = (key, key + width) if forward else (key - width, key)
        total = 0.0
        for span in self.spans[max(bisect_right(self.starts, low) - 1, 0):]:
            if span.start >= high:
                break
            overlap = min(high, span.end) - max(low, span.start)
            if overlap > timedelta(0):
                total += span.count * (overlap / (span.end - span.start))
        return total * self.share

    def fit(self, key: datetime, width_ms: float, wanted: int, first_ms: float,
            forward: bool) -> tuple[float, float]:  # fmt: skip
        """The window's width: across the gap ahead, if any, to ``first_ms`` into the next
        day with jobs; then narrowed until the counts expect at most
        ``EXPECTED_PER_WANTED`` jobs per job wanted. And the gap crossed (ms; 0: none)."""
        gap = self.gap_ms(key, forward)
        if gap > 0:
            width_ms = gap + first_ms
        most = EXPECTED_PER_WANTED * wanted
        if self.expected(key, width_ms, forward) > most:
            low, high = gap + 1.0, width_ms  # bisect: the widest window expecting <= most
            for _ in range(30):
                middle = (low + high) / 2
                low, high = (middle, high) if self.expected(key, middle, forward) <= most else (
                    low, middle)
            width_ms = low
        return width_ms, gap
