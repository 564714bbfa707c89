"""``manage.py seed``: counts, reproducibility, variety, invariants and re-runs."""

from __future__ import annotations

import datetime
import io
import threading
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.core.management.base import OutputWrapper
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from tests.factories import TaskFactory, UserFactory
from todos import bulk
from todos.ids import uuid7
from todos.management.commands import seed as seed_command
from todos.management.commands.seed import (
    HEAVY_USER_EMAIL,
    Progress,
    copy_tasks,
    scale_user_email,
    seed_user_email,
    seed_users,
)
from todos.models import Task

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def _seed(*args: str, **options: Any) -> tuple[str, str]:
    """Run the command; return what it wrote to stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    options.setdefault("quiet", True)
    call_command("seed", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def _seed_tasks() -> Any:
    return Task.objects.filter(owner__in=seed_users())


def _snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Each seed user's tasks in creation order, without ids and timestamps."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    rows = _seed_tasks().order_by("owner__email", "created_at", "id")
    for email, *task in rows.values_list(
        "owner__email", "title", "description", "status", "priority"
    ):
        snapshot.setdefault(email, []).append(tuple(task))
    return snapshot


# --- what gets created --------------------------------------------------------------


def test_seed_creates_the_requested_users_and_tasks_per_user():
    out, _ = _seed(users=3, tasks_per_user=20)

    emails = sorted(seed_users().values_list("email", flat=True))
    assert emails == [seed_user_email(n) for n in (1, 2, 3)]
    assert emails[0] == "seed-user-00001@seed.example.com"
    for user in seed_users():
        assert user.tasks.count() == 20
    assert not User.objects.filter(email=HEAVY_USER_EMAIL).exists()
    assert "Seeded 3 users and 60 tasks" in out


def test_heavy_tasks_adds_one_user_with_that_many_tasks():
    out, _ = _seed(users=2, tasks_per_user=5, heavy_tasks=120)

    heavy = User.objects.get(email=HEAVY_USER_EMAIL)
    assert heavy.tasks.count() == 120
    assert seed_users().count() == 3
    assert _seed_tasks().count() == 2 * 5 + 120
    assert "Seeded 3 users and 130 tasks" in out


def test_scale_users_get_exactly_the_listed_numbers_of_tasks():
    out, _ = _seed("--scale-users", "5,40,0", users=1, tasks_per_user=2, heavy_tasks=3)

    counts = {
        email: User.objects.get(email=email).tasks.count()
        for email in (scale_user_email(5), scale_user_email(40), scale_user_email(0))
    }
    assert counts == {
        "scale-5@seed.example.com": 5,
        "scale-40@seed.example.com": 40,
        "scale-0@seed.example.com": 0,
    }
    assert User.objects.get(email=HEAVY_USER_EMAIL).tasks.count() == 3
    assert "Seeded 5 users and 50 tasks" in out


def test_a_scale_users_tasks_do_not_depend_on_the_other_sizes():
    _seed("--scale-users", "30", users=0, seed=4)
    alone = _snapshot()
    _seed("--scale-users", "10,30", users=2, tasks_per_user=3, seed=4, reset=True)

    assert _snapshot()[scale_user_email(30)] == alone[scale_user_email(30)]


@pytest.mark.parametrize("sizes", ["10,10", "10,-1", "ten"])
def test_repeated_or_invalid_scale_sizes_are_refused(sizes):
    with pytest.raises(CommandError, match="scale-users"):
        _seed("--scale-users", sizes)
    assert not seed_users().exists()


def test_the_defaults_are_ten_users_with_a_hundred_tasks_each():
    _seed()

    assert seed_users().count() == 10
    assert _seed_tasks().count() == 1_000


def test_a_negative_count_is_refused():
    with pytest.raises(CommandError, match="negative"):
        _seed("--users", "-1")
    assert not seed_users().exists()


# --- reproducibility and variety ----------------------------------------------------


def test_the_same_seed_gives_each_user_position_the_same_tasks():
    _seed(users=3, tasks_per_user=30, seed=7)
    first = _snapshot()
    _seed(users=3, tasks_per_user=30, seed=7, reset=True)
    again = _snapshot()
    _seed(users=3, tasks_per_user=30, seed=8, reset=True)
    other = _snapshot()

    assert again == first
    assert other.keys() == first.keys()
    for email in first:
        assert other[email] != first[email]


def test_a_users_tasks_do_not_depend_on_how_many_users_are_seeded():
    _seed(users=2, tasks_per_user=25, seed=3)
    two = _snapshot()
    _seed(users=4, tasks_per_user=25, seed=3, reset=True)
    four = _snapshot()

    assert {email: four[email] for email in two} == two
    assert four[seed_user_email(1)] != four[seed_user_email(2)]


def test_a_moderate_seed_has_every_status_priority_and_a_mix_of_lengths():
    _seed(users=4, tasks_per_user=100)
    tasks = list(_seed_tasks())

    assert {t.status for t in tasks} == set(Task.Status.values)
    assert {t.priority for t in tasks} == set(Task.Priority.values)
    share_due = sum(t.due_at is not None for t in tasks) / len(tasks)
    assert 0.5 <= share_due <= 0.7
    share_done = sum(t.status == Task.Status.COMPLETED for t in tasks) / len(tasks)
    assert 0.2 <= share_done <= 0.7
    assert len({len(t.title) for t in tasks}) >= 20
    description_lengths = [len(t.description) for t in tasks]
    assert 0 in description_lengths
    assert any(0 < n <= 300 for n in description_lengths)
    assert any(n > 600 for n in description_lengths)
    created = [t.created_at for t in tasks]
    assert max(created) - min(created) > 250 * DAY


def test_descriptions_keep_their_paragraph_breaks():
    _seed(users=4, tasks_per_user=100)
    descriptions = list(_seed_tasks().values_list("description", flat=True))

    assert any("\n\n" in text for text in descriptions)
    assert not any("\\" in text or "\t" in text for text in descriptions)


# --- invariants ---------------------------------------------------------------------


def test_every_seeded_task_satisfies_the_task_invariants():
    before = timezone.now().replace(microsecond=0)
    _seed(users=3, tasks_per_user=100, heavy_tasks=100)
    after = timezone.now()
    tasks = list(_seed_tasks())

    assert len(tasks) == 400
    for task in tasks:
        assert (task.status == Task.Status.COMPLETED) == (task.completed_at is not None)
        assert before - 366 * DAY <= task.created_at <= task.updated_at <= after
        if task.completed_at is not None:
            assert task.created_at <= task.completed_at <= task.updated_at
        if task.due_at is not None:
            assert before - 61 * DAY <= task.due_at <= after + 120 * DAY
        assert task.version == 1
        assert task.id.version == 7
        assert 0 < len(task.title.strip()) == len(task.title) <= 255
        assert len(task.description) <= 2_000
        assert task.description == task.description.strip()


def test_ids_follow_creation_time_within_each_owner():
    _seed(users=3, tasks_per_user=50)

    for user in seed_users():
        by_created = list(
            user.tasks.order_by("created_at", "id").values_list("id", flat=True)
        )
        assert by_created == sorted(by_created, key=lambda value: value.bytes)


def test_seeded_users_sign_in_with_the_shared_password():
    _seed(users=2, tasks_per_user=1, heavy_tasks=1, password="let-me-in-please")

    for email in (seed_user_email(1), seed_user_email(2), HEAVY_USER_EMAIL):
        user = authenticate(email=email, password="let-me-in-please")
        assert user is not None
        assert user.get_username() == email
    assert authenticate(email=seed_user_email(1), password="seed-password-123") is None
    # Hashed once and shared: a per-user salt would make every hash different.
    assert len(set(seed_users().values_list("password", flat=True))) == 1


# --- re-runs ------------------------------------------------------------------------


def test_a_second_run_without_reset_writes_nothing_and_says_how_to_reseed():
    _seed(users=2, tasks_per_user=10)
    user_ids = set(seed_users().values_list("id", flat=True))
    task_ids = set(_seed_tasks().values_list("id", flat=True))

    out, _ = _seed(users=5, tasks_per_user=50, heavy_tasks=10)

    assert "already exists" in out
    assert "--reset" in out
    assert set(seed_users().values_list("id", flat=True)) == user_ids
    assert set(_seed_tasks().values_list("id", flat=True)) == task_ids


def test_reset_replaces_seed_data_and_leaves_other_users_alone():
    other = UserFactory.create()
    kept = {t.pk: t.title for t in TaskFactory.create_batch(3, owner=other)}
    _seed(users=3, tasks_per_user=10, heavy_tasks=15)
    old_task_ids = set(_seed_tasks().values_list("id", flat=True))

    out, _ = _seed(users=2, tasks_per_user=7, reset=True)

    assert "Deleted 4 seed users" in out
    assert seed_users().count() == 2
    assert not User.objects.filter(email=HEAVY_USER_EMAIL).exists()
    assert _seed_tasks().count() == 14
    assert old_task_ids.isdisjoint(_seed_tasks().values_list("id", flat=True))
    assert Task.objects.count() == 14 + 3
    assert User.objects.filter(pk=other.pk).exists()
    assert dict(other.tasks.values_list("id", "title")) == kept


def test_reset_without_earlier_seed_data_just_seeds():
    out, _ = _seed(users=1, tasks_per_user=3, reset=True)

    assert "Deleted" not in out
    assert _seed_tasks().count() == 3


# --- progress -----------------------------------------------------------------------


def test_progress_is_a_line_per_tenth_on_stderr_when_not_a_terminal():
    _, err = _seed(users=2, tasks_per_user=100, batch_size=20, quiet=False)

    lines = err.splitlines()
    assert [line.split("%")[0].split()[-1] for line in lines] == [
        str(p) for p in range(10, 101, 10)
    ]
    assert lines[-1].startswith("tasks 100%  200/200")
    assert lines[-1].endswith("rows/s")


def test_quiet_turns_the_progress_off():
    _, err = _seed(users=2, tasks_per_user=100, batch_size=20, quiet=True)

    assert err == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_line_in_place_on_a_terminal():
    terminal = _Terminal()
    stderr = OutputWrapper(terminal)
    stderr.style_func = lambda text: f"<error>{text}</error>"  # as BaseCommand does
    progress = Progress(stderr, total=4)
    for done in range(1, 5):
        progress.update(done)
    progress.finish()

    text = terminal.getvalue()
    assert text.count("\r") == 4
    assert text.count("\n") == 1
    assert text.endswith("\n")
    assert "\rtasks 100%  4/4" in text
    assert "<error>" not in text


# --- PostgreSQL's COPY path ---------------------------------------------------------


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
def test_postgresql_streams_the_tasks_with_copy_instead_of_inserts():
    with CaptureQueriesContext(connection) as queries:
        _seed(users=3, tasks_per_user=40, batch_size=25)

    assert _seed_tasks().count() == 120
    inserts = [q["sql"] for q in queries if 'INTO "todos_task"' in q["sql"]]
    assert inserts == []


@pytest.mark.postgres(reason="the ORM emulates the cascade elsewhere")
def test_reset_on_postgresql_deletes_the_seed_tasks_in_one_statement_first():
    _seed(users=3, tasks_per_user=10)

    with CaptureQueriesContext(connection) as queries:
        _seed(users=1, tasks_per_user=1, reset=True)

    deletes = [q["sql"] for q in queries if q["sql"].startswith("DELETE")]
    assert deletes[0].startswith("DELETE FROM todos_task WHERE owner_id IN (SELECT")
    assert "@seed.example.com" in deletes[0]
    assert _seed_tasks().count() == 1


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
def test_copy_round_trips_special_characters_and_timestamps():
    owner = UserFactory.create()
    text = "tab\there, back\\slash, \\N, line\nbreak, cr\r, ünïcode ✓"
    due, done, created, updated = (
        1_700_000_000,
        1_700_000_123,
        1_690_000_000,
        1_700_000_200,
    )
    row = (
        str(uuid7()),
        str(owner.pk),
        "Title with\ttab",
        text,
        Task.Status.COMPLETED.value,
        Task.Priority.URGENT.value,
        due,
        done,
        created,
        updated,
    )

    copy_tasks(iter([row]), batch_size=10, progress=Progress(None, 1))

    task = Task.objects.get(owner=owner)
    assert (task.title, task.description) == ("Title with\ttab", text)
    assert (task.status, task.priority, task.version) == ("completed", 40, 1)
    utc = datetime.UTC
    assert task.due_at == datetime.datetime.fromtimestamp(due, tz=utc)
    assert task.completed_at == datetime.datetime.fromtimestamp(done, tz=utc)
    assert task.created_at == datetime.datetime.fromtimestamp(created, tz=utc)
    assert task.updated_at == datetime.datetime.fromtimestamp(updated, tz=utc)


def _task_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'todos_task'"
        )
        return dict(cursor.fetchall())


def _task_foreign_keys() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(bulk.FOREIGN_KEYS_SQL, ["todos_task"])
        return dict(cursor.fetchall())


@pytest.fixture
def small_bulk_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loads from 50 tasks on count as big: they drop and rebuild the indexes."""
    monkeypatch.setattr(seed_command, "BULK_INDEX_THRESHOLD", 50)
    with connection.cursor() as cursor:
        # The size estimate the seed compares with; earlier tests may have left it high.
        cursor.execute("ANALYZE todos_task")


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
@pytest.mark.usefixtures("small_bulk_threshold")
def test_a_big_load_drops_the_indexes_and_builds_the_same_ones_after():
    before, keys = _task_indexes(), _task_foreign_keys()
    with CaptureQueriesContext(connection) as queries:
        _seed(users=2, tasks_per_user=40)

    assert _seed_tasks().count() == 80
    assert _task_indexes() == before
    assert _task_foreign_keys() == keys
    dropped = [q["sql"] for q in queries if q["sql"].startswith("DROP INDEX")]
    assert len(dropped) == len(before) - 1  # all but the primary key
    assert [q for q in queries if "DROP CONSTRAINT" in q["sql"]]


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
def test_a_load_smaller_than_the_threshold_keeps_the_indexes(monkeypatch):
    with CaptureQueriesContext(connection) as queries:
        _seed(users=2, tasks_per_user=40)

    assert _seed_tasks().count() == 80
    assert not [q for q in queries if q["sql"].startswith("DROP INDEX")]


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
@pytest.mark.usefixtures("small_bulk_threshold")
def test_the_owner_key_added_back_after_a_big_load_still_refuses_unknown_owners():
    _seed(users=2, tasks_per_user=40)
    orphan = TaskFactory.build(owner=UserFactory.build())

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # not at the test's commit

    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.bulk_create([orphan])


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("small_bulk_threshold")
def test_after_the_commit_the_indexes_are_built_on_connections_of_their_own(
    monkeypatch,
):
    before, keys = _task_indexes(), _task_foreign_keys()
    builders: set[str] = set()
    build = bulk._build

    def spy(name: str, statement: str, report: Any) -> None:
        builders.add(threading.current_thread().name)
        build(name, statement, report)

    monkeypatch.setattr(bulk, "_build", spy)
    out, _ = _seed(users=2, tasks_per_user=40, index_workers=2)

    assert _seed_tasks().count() == 80
    assert _task_indexes() == before
    assert _task_foreign_keys() == keys
    assert builders == {"index-build-0", "index-build-1"}
    assert f"building {len(Task._meta.indexes)} indexes on 2 connections" in out
    assert out.count("  built todos_task_") == len(Task._meta.indexes)


@pytest.mark.postgres(reason="the COPY path is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("small_bulk_threshold")
def test_indexes_an_interrupted_build_left_missing_are_built_by_the_next_run(
    monkeypatch,
):
    before = _task_indexes()
    build = bulk._build

    def failing(name: str, statement: str, report: Any) -> None:
        if name == "todos_task_desc_trgm_idx":
            raise KeyboardInterrupt
        build(name, statement, report)

    monkeypatch.setattr(bulk, "_build", failing)
    with pytest.raises(KeyboardInterrupt):
        _seed(users=2, tasks_per_user=40)

    # The data committed before the builds started. The builders stopped at the
    # error: what one of them had built stays, the rest is missing.
    assert _seed_tasks().count() == 80
    missing = bulk.missing_indexes()
    assert "todos_task_desc_trgm_idx" in missing
    assert "todos_task_title_trgm_idx" not in missing

    monkeypatch.setattr(bulk, "_build", build)
    out, _ = _seed(users=2, tasks_per_user=40)

    assert f"Building {len(missing)} missing task indexes first." in out
    assert "Seed data already exists" in out
    assert _task_indexes() == before
