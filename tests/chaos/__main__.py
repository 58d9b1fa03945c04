"""``python -m tests.chaos``: a randomized chaos run (``make chaos``); exits 1 on a violation."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from tests.chaos.run import render, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of faults")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--skew", type=float, default=90.0, help="seconds; 0: true clocks")
    parser.add_argument("--work", type=Path, default=None, help="keep logs here")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        outcome = run(args.work, args.duration, seed, args.skew)
    else:
        with tempfile.TemporaryDirectory(prefix="chaos-") as work:
            outcome = run(Path(work), args.duration, seed, args.skew)
    print(render(outcome), flush=True)
    return 0 if not outcome.report.violations else 1


if __name__ == "__main__":
    sys.exit(main())
