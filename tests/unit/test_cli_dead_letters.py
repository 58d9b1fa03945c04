"""``flask dead-letters list|replay|delete`` against mongomock."""

from __future__ import annotations

from datetime import timedelta

from bson import ObjectId
from flask.testing import FlaskCliRunner
from pymongo.database import Database

from tests.conftest import START
from tests.support.dead_letters import add_dead_letter


def make_job(mongo_db: Database) -> ObjectId:
    return mongo_db["jobs"].insert_one({"schedule": "@hourly", "enabled": True,
                                        "inflight": []}).inserted_id  # fmt: skip


def test_list_shows_each_dead_letter_and_the_count(
    runner: FlaskCliRunner, mongo_db: Database
) -> None:
    job_id = make_job(mongo_db)
    letter = add_dead_letter(mongo_db, job_id, START)
    result = runner.invoke(args=["dead-letters", "list", "--state", "dead"])
    assert result.exit_code == 0, result.output
    assert str(letter.id) in result.output and "HTTP 500" in result.output
    assert "1 dead letters in all" in result.output
    bad = runner.invoke(args=["dead-letters", "list", "--job", "xyz"])
    assert bad.exit_code == 1 and "jobId" in bad.output


def test_replay_one_or_a_jobs_and_delete(runner: FlaskCliRunner, mongo_db: Database) -> None:
    job_id = make_job(mongo_db)
    first = add_dead_letter(mongo_db, job_id, START)
    second = add_dead_letter(mongo_db, job_id, START + timedelta(minutes=1))

    one = runner.invoke(args=["dead-letters", "replay", str(first.id)])
    assert one.exit_code == 0 and f"queued {first.id}" in one.output
    again = runner.invoke(args=["dead-letters", "replay", str(first.id)])
    assert again.exit_code == 1 and "already being replayed" in again.output
    many = runner.invoke(args=["dead-letters", "replay", "--job", str(job_id)])
    assert many.exit_code == 0 and "queued 1, skipped 0" in many.output

    busy = runner.invoke(args=["dead-letters", "delete", str(second.id)])
    assert busy.exit_code == 1 and "being replayed" in busy.output  # its replay is queued
    third = add_dead_letter(mongo_db, job_id, START + timedelta(minutes=2))
    deleted = runner.invoke(args=["dead-letters", "delete", str(third.id)])
    assert deleted.exit_code == 0 and f"deleted {third.id}" in deleted.output
    assert mongo_db["dead_letters"].count_documents({}) == 2
    missing = runner.invoke(args=["dead-letters", "delete", str(third.id)])
    assert missing.exit_code == 1 and "not found" in missing.output
