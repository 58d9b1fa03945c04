"""The bench's judgement of issue 19's targets, and its count of documents written."""

from __future__ import annotations

from typing import Any

from bench import report
from bench.writes import documents_written, per


def burst_size(service: float, peer: float, complete: bool = True, writes: float = 1.2) -> dict:
    return {"serviceRate": service, "serviceComplete": complete, "mongoPeerRate": peer,
            "memoryPeerRate": 900.0, "ratio": round(service / peer, 3),
            "serviceDocWritesPerExecution": writes, "serviceWriteOpsPerExecution": 0.4,
            "serviceCpuMsPerExecution": 1.5, "serviceDbCpuMsPerExecution": 3.0,
            "mongoPeerDocWritesPerExecution": 1.0, "mongoPeerWriteOpsPerExecution": 1.0,
            "mongoPeerCpuMsPerExecution": 1.1, "mongoPeerDbCpuMsPerExecution": 0.6}  # fmt: skip


def lateness_run(p99: float, misses: int = 0, duplicates: int = 0, jobs: int = 200) -> dict:
    return {"jobs": jobs, "processes": 3, "seconds": 60, "workers": 20,
            "expectedTicks": jobs * 60, "delivered": jobs * 60 - misses, "misses": misses,
            "duplicates": duplicates, "latenessP50Ms": 10.0, "latenessP99Ms": p99,
            "latenessMaxMs": p99 + 5, "startLagP50Ms": 8.0, "startLagP99Ms": p99 - 2,
            "startLagMaxMs": p99, "documentWritesPerExecution": 1.4,
            "writeOpsPerExecution": 0.5, "serviceCpuMsPerExecution": 2.0,
            "dbCpuMsPerExecution": 3.0}  # fmt: skip


def verdicts(figures: dict[str, Any]) -> dict[str, bool | None]:
    return {t.name.split(":")[0]: t.met for t in report.targets(figures)}


def test_burst_is_met_at_the_peers_rate_and_only_when_every_tick_was_recorded() -> None:
    figures = {"burst": {"workers": 32, "600": burst_size(500.0, 500.0),
                         "2000": burst_size(499.0, 500.0)}}  # fmt: skip
    found = verdicts(figures)
    assert found["burst 600 ticks, 32 workers"] is True
    assert found["burst 2,000 ticks, 32 workers"] is False
    figures["burst"]["600"] = burst_size(600.0, 500.0, complete=False)
    assert verdicts(figures)["burst 600 ticks, 32 workers"] is False


def test_document_writes_are_judged_on_the_worst_run() -> None:
    figures = {"burst": {"workers": 32, "600": burst_size(500.0, 400.0, writes=1.5)},
               "lateness": {"multi": lateness_run(40.0)}}  # fmt: skip
    assert verdicts(figures)["document writes per execution <= 1.5"] is True
    figures["burst"]["600"] = burst_size(500.0, 400.0, writes=1.51)
    assert verdicts(figures)["document writes per execution <= 1.5"] is False


def test_lateness_targets_need_every_tick_once() -> None:
    name = "200 every-second jobs on 3 processes, 5 min"
    assert verdicts({"lateness": {"multi": lateness_run(40.0)}})[name] is True
    assert verdicts({"lateness": {"multi": lateness_run(51.0)}})[name] is False
    assert verdicts({"lateness": {"multi": lateness_run(40.0, misses=1)}})[name] is False
    assert verdicts({"lateness": {"multi": lateness_run(40.0, duplicates=1)}})[name] is False
    heavy = verdicts({"lateness": {"heavy": lateness_run(99.0, jobs=500)}})
    assert heavy["500 every-second jobs on one process, 2 min"] is True


def test_api_scale_targets_follow_page_two_stats_and_the_create_rate() -> None:
    scale = {"jobs": 100_000, "create": {"perSecond": 300, "errors": 0},
             "list": [{"filter": "tag", "p50Ms": 80.0}, {"filter": "page 2", "p50Ms": 50.0}],
             "stats": {"p50Ms": 100.1}}  # fmt: skip
    found = {t.name: (t.met, t.figure) for t in report.targets({"apiScale": scale})}
    at = "API at 100,000 registered jobs"
    assert found[f"{at}: list page p50 <= 50 ms"] == (
        True, "page 2 p50 50.0 ms (slowest filter: tag, 80.0 ms)")
    assert found[f"{at}: stats p50 <= 100 ms"][0] is False
    assert found[f"{at}: create >= 300/s"][0] is True
    scale["create"]["perSecond"] = 299
    again = {t.name: t.met for t in report.targets({"apiScale": scale})}
    assert again[f"{at}: create >= 300/s"] is False


def test_a_section_that_did_not_run_is_not_judged() -> None:
    assert report.targets({}) == []
    assert report.markdown({}, {}) == "(no issue-19 section ran)"


def test_markdown_has_a_row_per_target_and_the_command() -> None:
    figures = {"burst": {"workers": 32, "600": burst_size(500.0, 400.0)},
               "lateness": {"light": lateness_run(9.0, jobs=20)}}  # fmt: skip
    meta = {"command": "python -m bench --quick", "machine": "2 CPU", "commit": "abc",
            "loadAverageAtStart": 0.3, "runs": 0, "burstRuns": 1}  # fmt: skip
    text = report.markdown(figures, meta)
    assert "`python -m bench --quick`" in text
    assert "| 600 ticks due in one second: executions/s | 500.0 | 400.0 | 900.0 |" in text
    judged = [line for line in text.splitlines()[1:]
              if line.endswith(("| met |", "| NOT met |")) and "| measured |" not in line]
    assert len(judged) == len(report.targets(figures)) - 1  # CPU is reported, not judged
    assert "| service CPU per execution (reported) | burst 600 1.50 ms, light 2.00 ms | - |" in text


def test_documents_written_come_from_each_write_commands_reply() -> None:
    assert documents_written("insert", {"n": 32, "ok": 1}) == 32
    assert documents_written("update", {"n": 5, "nModified": 3, "ok": 1}) == 3
    assert documents_written("update", {"n": 1, "nModified": 0,
                                        "upserted": [{"index": 0, "_id": 1}]}) == 1
    assert documents_written("delete", {"n": 2}) == 2
    assert documents_written("findAndModify", {"lastErrorObject": {"n": 1}, "value": {}}) == 1
    assert documents_written("findAndModify", {"lastErrorObject": {"n": 0}, "value": None}) == 0
    assert documents_written("find", {"cursor": {}}) == 0
    assert per(3, 2) == 1.5 and per(3, 0) is None
