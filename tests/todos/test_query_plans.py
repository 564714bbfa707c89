"""The list's performance budget, held by PostgreSQL's own plans.

Every documented filter and ordering of ``GET /api/v1/tasks/``, first pages and deep
ones, is run through the API for one user with many tasks; the SQL it sent is then
run again under ``EXPLAIN (ANALYZE, FORMAT JSON)``. A plan fails when it

* scans the task table sequentially,
* sorts, for a plain ordering or a cursor page (the index must give the order), or
* reads more than ``ROWS_READ_MAX`` of the table's rows, whatever the user's number
  of tasks: an index walk that filters out most of what it reads, or a sort over a
  large part of the user's tasks, costs time in proportion to the user's size.

The user here has ``QUERY_PLAN_TASKS`` tasks (30,000 by default, to keep the suite
fast); docs/performance.md records a run with ``QUERY_PLAN_TASKS=1000000``, where
the planner makes the same choices. Timings are the benchmark's business (``make
bench``), never asserted here.
"""

from __future__ import annotations

import datetime
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from accounts.models import User
from tests.conftest import bearer
from tests.factories import UserFactory
from todos.models import POSITION_GAP, Label, Task, TaskList
from todos.pagination import ORDERINGS, TaskCursorPagination
from todos.seeding import Progress, Row, TaskGenerator, copy_tasks

pytestmark = [
    pytest.mark.postgres(reason="the plans are PostgreSQL's planner's"),
    # Writing the tasks through every index takes most of this module's ~20 s.
    pytest.mark.scale,
    pytest.mark.django_db,
]

TASKS = int(os.environ.get("QUERY_PLAN_TASKS", "30000"))
OTHER_USERS = 20
OTHER_USER_TASKS = 250
# A user whose tasks are nearly all completed: only the oldest few are open.
MOSTLY_DONE_TASKS = max(TASKS // 5, 1_000)
MOSTLY_DONE_OPEN = 20
# A word that only RARE_TASKS of the big user's titles contain.
RARE_WORD = "xylophone"
RARE_TASKS = 7
ROWS_READ_MAX = 2_000

LIST = reverse("todos:task-list")


# Of the big user's tasks: every LIST_EVERY-th is in a list, every
# COMMON_LABEL_EVERY-th carries a common label, the rare ones a rare label.
LIST_EVERY = 7
COMMON_LABEL_EVERY = 3


@dataclass(frozen=True)
class Dataset:
    big: User
    mostly_done: User
    now: datetime.datetime
    work_list: str = ""
    common_label: str = ""
    rare_label: str = ""


def _mostly_done(rows: Iterator[Row]) -> Iterator[Row]:
    """Complete all but the ``MOSTLY_DONE_OPEN`` oldest tasks (given oldest first)."""
    for position, row in enumerate(rows):
        id_, owner, title, text, _, priority, due, _, created, updated = row
        if position < MOSTLY_DONE_OPEN:
            status = "pending" if position % 2 else "in_progress"
            yield (
                id_,
                owner,
                title,
                text,
                status,
                priority,
                due,
                None,
                created,
                updated,
            )
        else:
            done = "completed"
            yield (
                id_,
                owner,
                title,
                text,
                done,
                priority,
                due,
                created,
                created,
                updated,
            )


def _with_rare_titles(rows: Iterator[Row]) -> Iterator[Row]:
    every = TASKS // RARE_TASKS
    for position, row in enumerate(rows):
        if position % every == every // 2 and position // every < RARE_TASKS:
            row = (row[0], row[1], f"Tune the {RARE_WORD}", *row[3:])
        yield row


@pytest.fixture(scope="module")
def dataset(django_db_setup: None, django_db_blocker: Any) -> Iterator[Dataset]:
    """The users and tasks, committed for the whole module and removed after it."""
    with django_db_blocker.unblock():
        now = timezone.now()
        generator = TaskGenerator(seed=5, now=int(now.timestamp()))
        big, mostly_done = UserFactory.create(), UserFactory.create()
        others = UserFactory.create_batch(OTHER_USERS)

        def rows() -> Iterator[Row]:
            for other in others:
                yield from generator.tasks(
                    other.pk, OTHER_USER_TASKS, generator.rng_for(str(other.pk))
                )
            yield from _with_rare_titles(
                generator.tasks(big.pk, TASKS, generator.rng_for("big"))
            )
            yield from _mostly_done(
                generator.tasks(
                    mostly_done.pk, MOSTLY_DONE_TASKS, generator.rng_for("done")
                )
            )

        users = [big, mostly_done, *others]
        try:
            with transaction.atomic():
                copy_tasks(rows(), batch_size=20_000, progress=Progress(None, 0))
                organised = _organise(big)
            # Fresh statistics and visibility map, as autovacuum would leave them.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE todos_task")
                cursor.execute("VACUUM ANALYZE todos_tasklabel")
            yield Dataset(big=big, mostly_done=mostly_done, now=now, **organised)
        finally:
            Task.objects.filter(owner__in=users).delete()
            User.objects.filter(pk__in=[u.pk for u in users]).delete()


def _organise(big: User) -> dict[str, str]:
    """Put some of the big user's tasks into a list and label some of them.

    In SQL, as a bulk load would: the rows keep their timestamps and versions.
    The COPY gave every task a position from the sequence, in load order.
    """
    work = TaskList.objects.create(owner=big, name="Work", position=1)
    common = Label.objects.create(owner=big, name="common")
    rare = Label.objects.create(owner=big, name="rare")
    step = f"(position / {POSITION_GAP})"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE todos_task SET list_id = %s WHERE owner_id = %s "
            f"AND mod({step}, {LIST_EVERY}) = 0",
            [work.pk, big.pk],
        )
        link = (
            "INSERT INTO todos_tasklabel (owner_id, task_id, label_id) "
            "SELECT owner_id, id, %s FROM todos_task WHERE owner_id = %s AND "
        )
        cursor.execute(
            link + f"mod({step}, {COMMON_LABEL_EVERY}) = 0", [common.pk, big.pk]
        )
        cursor.execute(link + "title LIKE %s", [rare.pk, big.pk, f"%{RARE_WORD}%"])
    return {
        "work_list": str(work.pk),
        "common_label": str(common.pk),
        "rare_label": str(rare.pk),
    }


# --- plans ---------------------------------------------------------------------------


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _describe(node: dict[str, Any], depth: int = 0) -> str:
    facts = [node["Node Type"], node.get("Index Name", ""), node.get("Sort Key", "")]
    for key in ("Index Cond", "Filter", "Recheck Cond"):
        if key in node:
            facts.append(f"{key}: {node[key]}")
    facts.append(f"rows={node.get('Actual Rows')}x{node.get('Actual Loops')}")
    if "Rows Removed by Filter" in node:
        facts.append(f"removed={node['Rows Removed by Filter']}")
    line = "  " * depth + " ".join(str(f) for f in facts if f)
    children = [_describe(c, depth + 1) for c in node.get("Plans", [])]
    return "\n".join([line, *children])


@dataclass(frozen=True)
class Plan:
    root: dict[str, Any]

    def __str__(self) -> str:
        return _describe(self.root)

    def task_scans(self) -> list[dict[str, Any]]:
        return [n for n in _nodes(self.root) if n.get("Relation Name") == "todos_task"]

    def seq_scans(self) -> list[dict[str, Any]]:
        return [n for n in self.task_scans() if n["Node Type"] == "Seq Scan"]

    def sorts(self) -> list[dict[str, Any]]:
        return [n for n in _nodes(self.root) if n["Node Type"].endswith("Sort")]

    def indexes(self) -> set[str]:
        return {n["Index Name"] for n in _nodes(self.root) if "Index Name" in n}

    def rows_read(self) -> int:
        """Task rows the scans produced or threw away, over all loops."""
        total = 0
        for node in self.task_scans():
            per_loop = (
                node["Actual Rows"]
                + node.get("Rows Removed by Filter", 0)
                + node.get("Rows Removed by Index Recheck", 0)
            )
            total += per_loop * node["Actual Loops"]
        return total


def _explain(sql: str) -> Plan:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        (raw,) = cursor.fetchone()
    document = json.loads(raw) if isinstance(raw, str) else raw
    return Plan(document[0]["Plan"])


def _list_plans(user: User, query: dict[str, str]) -> tuple[list[Plan], Any]:
    """Ask the API for one page; return the plans of its task queries, and the body."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(LIST, query)
    assert response.status_code == 200, response.content
    sqls = [q["sql"] for q in queries if 'FROM "todos_task"' in q["sql"]]
    assert sqls, "the page ran no task query"
    return [_explain(sql) for sql in sqls], response.json()


def _assert_within_budget(plans: list[Plan], *, may_sort: bool) -> None:
    for plan in plans:
        assert not plan.seq_scans(), f"sequential scan of the tasks:\n{plan}"
        if not may_sort:
            assert not plan.sorts(), f"the index does not give the order:\n{plan}"
        assert plan.rows_read() <= ROWS_READ_MAX, (
            f"read {plan.rows_read()} rows for one page:\n{plan}"
        )


def _needs(ordering: str) -> dict[str, str]:
    """The filter an ordering needs: ``position`` orders one list (the inbox here)."""
    return {"list": "inbox"} if ORDERINGS[ordering].column == "position" else {}


def _cursor_at(user: User, ordering: str, share: float, *, backwards: bool) -> str:
    """A signed cursor at ``share`` of the way through ``user``'s list."""
    key = ORDERINGS[ordering]
    rows = Task.objects.filter(owner=user).order_by(*key.order_by())
    if _needs(ordering):
        rows = rows.filter(list__isnull=True)
    row = rows[int(rows.count() * share)]
    # As the paginator makes one while serving the list to this user.
    params = {"ordering": ordering, **_needs(ordering)}
    request = Request(APIRequestFactory().get(LIST, params))
    request.user = user
    return TaskCursorPagination().cursor_for(request, row, reverse=backwards)


# --- the cases -----------------------------------------------------------------------


@pytest.mark.parametrize("ordering", sorted(ORDERINGS))
def test_every_ordering_reads_its_first_page_in_index_order(dataset, ordering):
    plans, body = _list_plans(dataset.big, {"ordering": ordering, **_needs(ordering)})

    assert len(body["results"]) == 50
    _assert_within_budget(plans, may_sort=False)


def _deep_positions() -> list[tuple[str, float, bool]]:
    cases = []
    for ordering, key in sorted(ORDERINGS.items()):
        # Nullable keys: before, at and after the point where the NULLs start.
        shares = (0.2, 0.5, 0.8) if key.nullable else (0.5,)
        cases += [(ordering, share, back) for share in shares for back in (False, True)]
    return cases


@pytest.mark.parametrize(("ordering", "share", "backwards"), _deep_positions())
def test_a_deep_cursor_page_seeks_instead_of_reading_up_to_it(
    dataset, ordering, share, backwards
):
    cursor = _cursor_at(dataset.big, ordering, share, backwards=backwards)

    plans, body = _list_plans(
        dataset.big, {"ordering": ordering, "cursor": cursor, **_needs(ordering)}
    )

    assert len(body["results"]) == 50
    assert body["previous"] is not None
    _assert_within_budget(plans, may_sort=False)


def _filters(now: datetime.datetime) -> list[dict[str, str]]:
    def days(n: int) -> str:
        return (now + datetime.timedelta(days=n)).isoformat()

    return [
        {"status": "pending"},
        {"status": "in_progress"},
        {"status": "completed"},
        {"status": "pending,in_progress"},
        {"priority": "urgent"},
        {"priority": "low,normal"},
        {"due_before": days(-30)},
        {"due_after": days(90)},
        {"overdue": "true"},
        {"overdue": "false"},
        {"has_due": "true"},
        {"has_due": "false"},
        {"created_after": days(-30)},
        {"created_before": days(-300)},
        {"updated_after": days(-7)},
        {"search": "report"},
        {"search": "the"},
        {"status": "pending", "ordering": "due_at"},
        {
            "status": "pending,in_progress",
            "priority": "urgent,high",
            "ordering": "due_at",
        },
        {"status": "completed", "ordering": "-updated_at"},
        {"has_due": "false", "ordering": "due_at"},
    ]


FILTER_COUNT = len(_filters(timezone.now()))


@pytest.mark.parametrize("case", range(FILTER_COUNT))
def test_every_filter_reads_a_bounded_number_of_rows(dataset, case):
    query = _filters(dataset.now)[case]

    plans, body = _list_plans(dataset.big, query)

    assert len(body["results"]) == 50, query
    # A filter may leave the order to a sort, but only of the few rows it matched.
    _assert_within_budget(plans, may_sort=True)
    assert body["next"] is not None
    cursor = parse_qs(urlparse(body["next"]).query)["cursor"][0]
    deep_plans, _ = _list_plans(dataset.big, {**query, "cursor": cursor})
    _assert_within_budget(deep_plans, may_sort=True)


# Filters on lists and labels; "{work}", "{common}", "{rare}" name the dataset's.
ORGANISED = [
    {"list": "{work}"},
    {"list": "{work}", "ordering": "position"},
    {"list": "{work}", "ordering": "-position"},
    {"list": "inbox"},
    {"list": "inbox", "ordering": "-position"},
    {"label": "{common}"},
    {"label": "{common},{rare}"},
    {"label_all": "{common},{rare}"},
    {"label": "{rare}"},
    {"list": "{work}", "label": "{common}"},
    {"list": "inbox", "status": "pending", "ordering": "position"},
]


@pytest.mark.parametrize("query", ORGANISED, ids=urlencode)
def test_list_and_label_filters_read_a_bounded_number_of_rows(dataset, query):
    names = {
        "work": dataset.work_list,
        "common": dataset.common_label,
        "rare": dataset.rare_label,
    }
    query = {name: value.format(**names) for name, value in query.items()}

    plans, body = _list_plans(dataset.big, query)

    assert body["results"], query
    # The rare label's few tasks are found through it, then sorted; the rest are
    # read in index order.
    _assert_within_budget(plans, may_sort=dataset.rare_label in str(query))
    if body["next"] is not None:
        cursor = parse_qs(urlparse(body["next"]).query)["cursor"][0]
        deep_plans, _ = _list_plans(dataset.big, {**query, "cursor": cursor})
        _assert_within_budget(deep_plans, may_sort=True)


@pytest.mark.parametrize(
    "query",
    [
        {"status": "pending"},
        {"status": "in_progress"},
        {"status": "pending,in_progress"},
        {"overdue": "true"},
        {"status": "pending", "ordering": "due_at"},
        {"status": "pending,in_progress", "ordering": "-due_at"},
        {"status": "pending,in_progress", "ordering": "created_at"},
    ],
    ids=urlencode,
)
def test_open_tasks_of_a_mostly_completed_user_skip_the_completed_ones(dataset, query):
    plans, body = _list_plans(dataset.mostly_done, query)

    assert 0 < len(body["results"]) <= MOSTLY_DONE_OPEN
    assert {t["status"] for t in body["results"]} <= {"pending", "in_progress"}
    _assert_within_budget(plans, may_sort=False)


def test_a_rare_search_term_is_found_through_the_trigram_indexes(dataset):
    plans, body = _list_plans(dataset.big, {"search": RARE_WORD.upper()})

    assert len(body["results"]) == RARE_TASKS
    (plan,) = plans
    assert "todos_task_title_trgm_idx" in plan.indexes(), str(plan)
    # The sort, if any, is over the few matching rows, not the user's tasks.
    _assert_within_budget(plans, may_sort=True)


def test_the_budget_fails_a_plan_that_reads_the_users_tasks_in_full(dataset):
    """The negative control: the same checks refuse a plan that scans."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        plans, _ = _list_plans(dataset.big, {"ordering": "priority"})
    with pytest.raises(AssertionError, match="sequential scan"):
        _assert_within_budget(plans, may_sort=False)


# --- the changes feed (todos/changes.py) --------------------------------------------

CHANGES = reverse("todos:task-changes")
FEED_TOMBSTONES = 3_000


@pytest.fixture(scope="module")
def feed_history(dataset: Dataset, django_db_blocker: Any) -> User:
    """The big user's tasks numbered 1..n in creation order, and many tombstones.

    The seed's COPY leaves every task at sequence 0; a real history has them spread,
    and the deletions' tombstones interleaved. Removed with the user at the end.
    """
    from todos.models import ChangeSequence, TaskTombstone

    big = dataset.big
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE todos_task SET change_seq = numbered.n * 2 FROM ("
            " SELECT id, row_number() OVER (ORDER BY created_at, id) AS n"
            " FROM todos_task WHERE owner_id = %s) AS numbered"
            " WHERE todos_task.id = numbered.id",
            [big.pk],
        )
        step = max(TASKS // FEED_TOMBSTONES, 1)
        TaskTombstone.objects.bulk_create(
            TaskTombstone(
                task_id=uuid.uuid4(), owner_id=big.pk, change_seq=n * step * 2 + 1
            )
            for n in range(FEED_TOMBSTONES)
        )
        # The seed's lists and labels (numbered when they were made) come last.
        for table in ("todos_tasklist", "todos_label"):
            cursor.execute(
                f"UPDATE {table} SET change_seq = %s WHERE owner_id = %s",
                [TASKS * 2 + 1, big.pk],
            )
        ChangeSequence.objects.update_or_create(
            owner=big, defaults={"last_seq": TASKS * 2 + 1, "pruned_seq": 0}
        )
        cursor.execute("VACUUM ANALYZE todos_task")
        cursor.execute("ANALYZE todos_tasktombstone")
    return big


def _feed_plans(user: User, since: str | None) -> tuple[list[Plan], Any]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGES, {"since": since} if since else {"limit": 100})
    assert response.status_code == 200, response.content
    sqls = [
        q["sql"]
        for q in queries
        if 'FROM "todos_task"' in q["sql"] or 'FROM "todos_tasktombstone"' in q["sql"]
    ]
    assert len(sqls) == 2, sqls
    return [_explain(sql) for sql in sqls], response.json()


@pytest.mark.parametrize("share", [0.0, 0.5, 0.97])
def test_a_changes_page_is_one_index_range_of_tasks_and_of_tombstones(
    feed_history, share
):
    from todos.changes import Position, dump_token

    since = None
    if share:
        seq = int(TASKS * 2 * share)
        since = dump_token(owner=feed_history, position=Position(seq))
    plans, body = _feed_plans(feed_history, since)

    assert len(body["changed"]) + len(body["deleted"]) == 100
    assert body["has_more"] is True
    for plan in plans:
        nodes = list(_nodes(plan.root))
        # A changed task's label ids are in its row (todos_task.label_ids, kept by
        # the links' triggers): no probe of the link table at all.
        links = [n for n in nodes if n.get("Relation Name") == "todos_tasklabel"]
        assert links == [], str(plan)
        scans = [n for n in nodes if "Relation Name" in n]
        assert scans, str(plan)
        assert all(n["Node Type"] != "Seq Scan" for n in scans), str(plan)
        # A sort may appear only where the range itself is small (the planner
        # reads a short tail by bitmap): the bound on rows read below holds it.
        ranges = plan.indexes()
        assert len(ranges) == 1, str(plan)
        assert ranges <= {
            "todos_task_owner_change_idx",
            "todos_tomb_owner_change_idx",
        }, str(plan)
        read = sum(
            (n["Actual Rows"] + n.get("Rows Removed by Filter", 0)) * n["Actual Loops"]
            for n in scans
        )
        assert read <= 101, f"read {read} rows for one page:\n{plan}"
        if plan.sorts():
            assert read < 100, f"sorted a full page's range:\n{plan}"
