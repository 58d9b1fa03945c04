"""Fixtures the unit tests share (tests/conftest.py has the app, clock and config)."""

from __future__ import annotations

import pytest
from flask import Flask
from pymongo.database import Database

from scheduler_service.runtime import get_runtime


@pytest.fixture
def database(app: Flask) -> Database:
    """The app's database (mongomock), as its stores see it."""
    return get_runtime(app).database
