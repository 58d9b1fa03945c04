"""The objects made while a process starts are frozen out of later full collections, once
(``runtime.freeze_startup_objects``): a full collection that walked them paused every
worker for 90-130 ms."""

from __future__ import annotations

import gc
import threading

import pytest
from pymongo.database import Database

from scheduler_service import open_runtime
from scheduler_service import runtime as runtime_module
from scheduler_service.clock import FixedClock
from scheduler_service.config import Config


def test_startup_objects_are_collected_then_frozen_once_per_process(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(runtime_module, "_frozen", threading.Lock())
    monkeypatch.setattr(gc, "collect", lambda *args: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    assert runtime_module.freeze_startup_objects() is True
    assert runtime_module.freeze_startup_objects() is False  # once
    assert calls == ["collect", "freeze"]


def test_frozen_objects_are_out_of_the_collections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_module, "_frozen", threading.Lock())
    gc.unfreeze()
    try:
        assert runtime_module.freeze_startup_objects() is True
        assert gc.get_freeze_count() > 0  # in the permanent generation: never walked
    finally:
        gc.unfreeze()


def test_the_first_scheduler_start_freezes(mongo_db: Database, clock: FixedClock,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(runtime_module, "freeze_startup_objects", lambda: calls.append("x"))
    runtime = open_runtime(Config(), database=mongo_db, clock=clock)
    try:
        runtime.start_scheduler()
        runtime.start_scheduler()  # already started: nothing more
    finally:
        runtime.close()
    assert calls == ["x"]
