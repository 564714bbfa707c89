"""Manual order: POST /tasks/{id}/move/ and ?ordering=position, held by the database."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from rest_framework import status

from tests.factories import TaskFactory
from tests.support.problems import assert_problem
from todos import services
from todos.models import POSITION_GAP, Task, TaskList

pytestmark = pytest.mark.django_db

TASKS = reverse("todos:task-list")


def _move(client, task_id, **body):
    return client.post(reverse("todos:task-move", args=[task_id]), body, format="json")


def _order(client, list_param="inbox", **params) -> list[str]:
    """Titles of the list in manual order, following every next link."""
    url = TASKS + f"?list={list_param}&ordering=position&page_size=2"
    titles = []
    while url:
        body = client.get(url).json()
        titles += [item["title"] for item in body["results"]]
        url = body["next"]
    return titles


def _tasks(client, *titles, task_list=None) -> dict[str, str]:
    ids = {}
    for title in titles:
        response = client.post(
            TASKS, {"title": title, "list": task_list}, format="json"
        )
        ids[title] = response.json()["id"]
    return ids


def test_new_tasks_go_last_in_their_list(auth_client):
    _tasks(auth_client, "a", "b", "c")

    assert _order(auth_client) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("move", "expected"),
    [
        ({"to": "top"}, ["d", "a", "b", "c"]),
        ({"to": "bottom"}, ["a", "b", "c", "d"]),
        ({"before": "b"}, ["a", "d", "b", "c"]),
        ({"after": "a"}, ["a", "d", "b", "c"]),
        ({"before": "a"}, ["d", "a", "b", "c"]),
        ({"after": "c"}, ["a", "b", "c", "d"]),
    ],
)
def test_a_move_puts_the_task_where_asked(auth_client, move, expected):
    ids = _tasks(auth_client, "a", "b", "c", "d")
    body = {k: ids.get(v, v) for k, v in move.items()}

    response = _move(auth_client, ids["d"], **body)

    assert response.status_code == status.HTTP_200_OK, response.content
    assert response.json()["id"] == ids["d"]
    assert _order(auth_client) == expected
    assert _order(auth_client).__len__() == 4


def test_a_move_writes_one_row_and_moves_its_version(auth_client):
    ids = _tasks(auth_client, "a", "b", "c")
    before = dict(Task.objects.values_list("id", "position"))

    response = _move(auth_client, ids["c"], before=ids["a"])

    after = dict(Task.objects.values_list("id", "position"))
    changed = [pk for pk in after if after[pk] != before[pk]]
    assert [str(pk) for pk in changed] == [ids["c"]]
    assert response["ETag"].endswith('.2"')
    assert _order(auth_client, **{"ordering": "-position"}) == ["c", "a", "b"]


def test_a_move_to_where_the_task_is_changes_nothing(auth_client):
    ids = _tasks(auth_client, "a", "b")

    response = _move(auth_client, ids["a"], before=ids["b"])

    assert response["ETag"].endswith('.1"')


def test_many_moves_to_one_spot_renumber_the_list_and_keep_the_order(auth_client):
    ids = _tasks(auth_client, "a", "b", "c", "d")
    first_positions = set(Task.objects.values_list("position", flat=True))
    # Each move halves the gap between "a" and the task after it: the gap of
    # 2**20 runs out after about 20 of them.
    for n in range(45):
        mover = ["c", "d"][n % 2]
        response = _move(auth_client, ids[mover], after=ids["a"])
        assert response.status_code == status.HTTP_200_OK

    # The last move (n = 44) put "c" right after "a".
    assert _order(auth_client) == ["a", "c", "d", "b"]
    positions = list(
        Task.objects.order_by("position").values_list("position", flat=True)
    )
    assert len(set(positions)) == 4
    # Renumbered: every position is a fresh one, larger than those given at first.
    assert min(positions) > max(first_positions)


def test_moves_within_a_list_stay_in_that_list(auth_client):
    work = auth_client.post(reverse("todos:list-list"), {"name": "W"}, format="json")
    list_id = work.json()["id"]
    ids = _tasks(auth_client, "w1", "w2", "w3", task_list=list_id)
    inbox = _tasks(auth_client, "i1")

    assert _move(auth_client, ids["w3"], to="top").status_code == 200
    refused = _move(auth_client, ids["w1"], before=inbox["i1"])

    problem = assert_problem(refused, status.HTTP_400_BAD_REQUEST)
    assert [e["field"] for e in problem["errors"]] == ["before"]
    assert _order(auth_client, list_id) == ["w3", "w1", "w2"]
    assert _order(auth_client) == ["i1"]


def test_changing_a_tasks_list_puts_it_last_there(auth_client):
    work = auth_client.post(reverse("todos:list-list"), {"name": "W"}, format="json")
    list_id = work.json()["id"]
    ids = _tasks(auth_client, "w1", "w2", task_list=list_id)
    inbox = _tasks(auth_client, "i1", "i2")
    _move(auth_client, inbox["i2"], to="top")

    auth_client.patch(
        reverse("todos:task-detail", args=[inbox["i2"]]),
        {"list": list_id},
        format="json",
    )
    auth_client.patch(
        reverse("todos:task-detail", args=[ids["w1"]]), {"list": None}, format="json"
    )

    assert _order(auth_client, list_id) == ["w2", "i2"]
    assert _order(auth_client) == ["i1", "w1"]


def test_deleting_a_list_moves_its_tasks_last_into_the_inbox_in_order(auth_client):
    work = auth_client.post(reverse("todos:list-list"), {"name": "W"}, format="json")
    list_id = work.json()["id"]
    ids = _tasks(auth_client, "w1", "w2", task_list=list_id)
    _tasks(auth_client, "i1")
    _move(auth_client, ids["w2"], to="top")

    auth_client.delete(
        reverse("todos:list-detail", args=[list_id]) + "?tasks=move_to_inbox"
    )

    assert _order(auth_client) == ["i1", "w2", "w1"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"to": "middle"},
        {"to": "top", "before": "0190d4a8-0000-7000-8000-000000000000"},
        {"before": "nope"},
        {"before": "0190d4a8-0000-7000-8000-000000000000"},
        {"after": "0190d4a8-0000-7000-8000-000000000000"},
        {"where": "top"},
    ],
)
def test_a_bad_move_is_a_400_and_moves_nothing(auth_client, body):
    ids = _tasks(auth_client, "a", "b")
    before = list(Task.objects.values_list("id", "position", "version"))

    response = _move(auth_client, ids["a"], **body)

    assert_problem(response, status.HTTP_400_BAD_REQUEST)
    assert list(Task.objects.values_list("id", "position", "version")) == before


def test_a_task_cannot_be_moved_before_itself(auth_client):
    ids = _tasks(auth_client, "a", "b")

    response = _move(auth_client, ids["a"], before=ids["a"])

    assert_problem(response, status.HTTP_400_BAD_REQUEST)


def test_another_users_task_is_a_404_to_move_and_no_anchor(auth_client, other_client):
    mine = _tasks(auth_client, "a")
    theirs = _tasks(other_client, "x", "y")

    assert_problem(_move(auth_client, theirs["x"], to="top"), status.HTTP_404_NOT_FOUND)
    refused = _move(auth_client, mine["a"], before=theirs["y"])
    assert_problem(refused, status.HTTP_400_BAD_REQUEST)
    assert _order(other_client) == ["x", "y"]


def test_a_move_honours_if_match(auth_client):
    ids = _tasks(auth_client, "a", "b")
    url = reverse("todos:task-move", args=[ids["b"]])

    stale = auth_client.post(url, {"to": "top"}, format="json", HTTP_IF_MATCH='"x.9"')

    assert_problem(stale, status.HTTP_412_PRECONDITION_FAILED)
    assert _order(auth_client) == ["a", "b"]


def test_ordering_by_position_needs_a_list(auth_client):
    body = assert_problem(
        auth_client.get(TASKS + "?ordering=position"), status.HTTP_400_BAD_REQUEST
    )
    # A code of its own, which the schema fuzzing knows is a cross-parameter rule.
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("ordering", "requires_list")
    ]


def test_a_position_page_is_two_queries(auth_client, django_assert_max_num_queries):
    _tasks(auth_client, *[f"t{n}" for n in range(20)])

    with django_assert_max_num_queries(2):
        response = auth_client.get(TASKS + "?list=inbox&ordering=position")

    assert len(response.json()["results"]) == 20


# --- the database's guarantee --------------------------------------------------------


def test_the_database_refuses_two_tasks_at_one_place(user):
    first, second = TaskFactory.create_batch(2, owner=user)
    first.refresh_from_db()
    task_list = TaskList.objects.create(owner=user, name="L", position=1)

    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=second.pk).update(position=first.position)
    Task.objects.filter(pk__in=[first.pk, second.pk]).update(list=task_list)
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.filter(pk=second.pk).update(position=first.position)


def test_inserts_that_name_no_position_take_increasing_ones(user):
    tasks = TaskFactory.create_batch(3, owner=user)

    positions = [
        Task.objects.values_list("position", flat=True).get(pk=t.pk) for t in tasks
    ]

    assert positions == sorted(set(positions))
    assert positions[0] > 0
    assert services.fresh_positions(2)[0] > positions[-1]
    assert positions[1] - positions[0] >= POSITION_GAP


@pytest.mark.postgres(reason="concurrent transactions need PostgreSQL's row locks")
@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_never_share_a_place_or_lose_a_task(user):
    tasks = TaskFactory.create_batch(6, owner=user)
    ids = [t.pk for t in tasks]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def mover(n: int) -> None:
        try:
            barrier.wait()
            for step in range(15):
                task = Task.objects.get(pk=ids[(n + step) % 6])
                anchor = ids[(n + 2 * step + 1) % 6]
                if anchor == task.pk:
                    services.task_move(task=task, to="top")
                elif step % 2:
                    services.task_move(task=task, before=anchor)
                else:
                    services.task_move(task=task, after=anchor)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=mover, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    positions = list(Task.objects.filter(owner=user).values_list("position", flat=True))
    assert len(positions) == 6
    assert len(set(positions)) == 6


# --- the order of lists --------------------------------------------------------------


def _list_names(client) -> list[str]:
    return [item["name"] for item in client.get(reverse("todos:list-list")).json()]


@pytest.mark.parametrize(
    ("move", "expected"),
    [
        ({"to": "top"}, ["C", "A", "B"]),
        ({"to": "bottom"}, ["A", "B", "C"]),
        ({"before": "B"}, ["A", "C", "B"]),
        ({"after": "A"}, ["A", "C", "B"]),
        ({"before": "A"}, ["C", "A", "B"]),
    ],
)
def test_a_list_moves_among_the_users_lists(auth_client, move, expected):
    ids = {
        name: auth_client.post(
            reverse("todos:list-list"), {"name": name}, format="json"
        ).json()["id"]
        for name in "ABC"
    }
    body = {k: ids.get(v, v) for k, v in move.items()}

    response = auth_client.post(
        reverse("todos:list-move", args=[ids["C"]]), body, format="json"
    )

    assert response.status_code == status.HTTP_200_OK, response.content
    assert _list_names(auth_client) == expected


def test_lists_renumber_after_many_moves_to_one_spot(auth_client, user):
    ids = [
        auth_client.post(reverse("todos:list-list"), {"name": n}, format="json").json()[
            "id"
        ]
        for n in "ABCD"
    ]
    for n in range(45):
        mover = ids[2 + n % 2]
        response = auth_client.post(
            reverse("todos:list-move", args=[mover]), {"after": ids[0]}, format="json"
        )
        assert response.status_code == status.HTTP_200_OK

    assert _list_names(auth_client) == ["A", "C", "D", "B"]
    positions = list(TaskList.objects.values_list("position", flat=True))
    assert len(set(positions)) == 4


def test_a_list_cannot_move_next_to_another_users_list(auth_client, other_client):
    mine = auth_client.post(reverse("todos:list-list"), {"name": "M"}, format="json")
    theirs = other_client.post(reverse("todos:list-list"), {"name": "T"}, format="json")

    response = auth_client.post(
        reverse("todos:list-move", args=[mine.json()["id"]]),
        {"before": theirs.json()["id"]},
        format="json",
    )

    problem = assert_problem(response, status.HTTP_400_BAD_REQUEST)
    assert [e["field"] for e in problem["errors"]] == ["before"]
    assert_problem(
        other_client.post(
            reverse("todos:list-move", args=[mine.json()["id"]]),
            {"to": "top"},
            format="json",
        ),
        status.HTTP_404_NOT_FOUND,
    )
