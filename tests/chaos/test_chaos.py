"""The 60-second chaos run of CI (``make chaos`` runs ten minutes): every fault of the
harness once, in a random order; the history checker must find no violation.

The seed is printed; ``CHAOS_SEED=N`` replays a run's fault plan (timings still vary).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.chaos.run import render, run

pytestmark = pytest.mark.chaos

DURATION_S = 60.0


def test_no_duplicate_or_loss_under_skew_crashes_and_network_faults(tmp_path: Path) -> None:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 10**6))
    outcome = run(tmp_path, DURATION_S, seed)
    print(render(outcome))
    assert not outcome.report.violations, f"seed {seed}: " + "; ".join(
        outcome.report.violations[:10]
    )
