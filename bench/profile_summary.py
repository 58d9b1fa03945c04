"""Summarize a py-spy ``--format raw`` profile: where each kind of thread spends its samples.

``python -m bench.profile_summary FILE [--top N] [--focus SUBSTRING]``

Threads are grouped by name without trailing digits (``job_0``..``job_63`` -> ``job_``).
For each group: its share of all samples, then the functions with the most inclusive
samples (a function counted once per stack) and the most self samples (leaf). With
``--focus``, only stacks through a frame containing SUBSTRING are counted.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_THREAD = re.compile(r"^thread \(\d+\): ?(?P<name>.*)$")


def _function(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    return f"{match['name']} ({match['file']})"


def _group(thread: str) -> str:
    return re.sub(r"\d+$", "", thread) or thread


def load(path: Path, focus: str | None = None) -> dict[str, list[tuple[list[str], int]]]:
    stacks: dict[str, list[tuple[list[str], int]]] = defaultdict(list)
    for raw in path.read_text(errors="replace").splitlines():
        if not raw.strip():
            continue
        body, _, count = raw.rpartition(" ")
        if not count.isdigit():
            continue
        frames = body.split(";")
        group = "process"
        if frames and frames[0].startswith("process "):
            frames = frames[1:]
        if frames and (thread := _THREAD.match(frames[0])):
            group = _group(thread["name"])
            frames = frames[1:]
        if focus and not any(focus in frame for frame in frames):
            continue
        stacks[group].append(([_function(f) for f in frames], int(count)))
    return stacks


def summarize(path: Path, top: int = 15, focus: str | None = None) -> str:
    stacks = load(path, focus)
    total = sum(count for group in stacks.values() for _, count in group)
    lines = [f"{path.name}: {total} samples" + (f" through {focus!r}" if focus else "")]
    for group, entries in sorted(stacks.items(), key=lambda kv: -sum(c for _, c in kv[1])):
        samples = sum(count for _, count in entries)
        inclusive: Counter[str] = Counter()
        leaf: Counter[str] = Counter()
        for functions, count in entries:
            for function in set(functions):
                inclusive[function] += count
            if functions:
                leaf[functions[-1]] += count
        lines.append(f"\n== {group}: {samples} samples ({samples / max(total, 1):.0%})")
        lines.append("  inclusive:")
        for function, count in inclusive.most_common(top):
            lines.append(f"    {count / samples:6.1%}  {function}")
        lines.append("  self:")
        for function, count in leaf.most_common(min(top, 8)):
            lines.append(f"    {count / samples:6.1%}  {function}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--focus")
    args = parser.parse_args()
    print(summarize(args.file, args.top, args.focus))


if __name__ == "__main__":
    main()
