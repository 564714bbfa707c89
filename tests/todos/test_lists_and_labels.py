"""Lists and labels through the API: CRUD, a task's list and labels, the filters."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from rest_framework import status

from tests.factories import TaskFactory
from tests.support.problems import assert_problem
from todos import services
from todos.models import Label, Task, TaskLabel, TaskList

pytestmark = pytest.mark.django_db

LISTS = reverse("todos:list-list")
LABELS = reverse("todos:label-list")
TASKS = reverse("todos:task-list")


def _list_url(pk) -> str:
    return reverse("todos:list-detail", args=[pk])


def _label_url(pk) -> str:
    return reverse("todos:label-detail", args=[pk])


def _task_url(pk) -> str:
    return reverse("todos:task-detail", args=[pk])


def _make_list(client, name="Work", **extra) -> dict:
    response = client.post(LISTS, {"name": name, **extra}, format="json")
    assert response.status_code == status.HTTP_201_CREATED, response.content
    return response.json()


def _make_label(client, name="urgent", **extra) -> dict:
    response = client.post(LABELS, {"name": name, **extra}, format="json")
    assert response.status_code == status.HTTP_201_CREATED, response.content
    return response.json()


# --- lists ---------------------------------------------------------------------------


def test_create_a_list_returns_it_with_location_and_etag(auth_client, user):
    response = auth_client.post(LISTS, {"name": "Work", "color": "blue"}, format="json")

    assert response.status_code == status.HTTP_201_CREATED
    body = response.json()
    created = TaskList.objects.get(pk=body["id"])
    assert created.owner_id == user.pk
    assert response["Location"].endswith(_list_url(created.pk))
    assert response["ETag"] == f'"{created.pk}.1"'
    assert set(body) == {"id", "name", "color", "position", "created_at", "updated_at"}
    assert (body["name"], body["color"]) == ("Work", "blue")


def test_lists_come_in_creation_order_with_increasing_positions(auth_client):
    names = ["Work", "Home", "Errands"]
    for name in names:
        _make_list(auth_client, name)

    body = auth_client.get(LISTS).json()

    assert [item["name"] for item in body] == names
    positions = [item["position"] for item in body]
    assert positions == sorted(set(positions))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": " \t "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({}, "name"),
        ({"name": "A", "color": "mauve"}, "color"),
        ({"name": "A", "owner": "x"}, "owner"),
    ],
)
def test_invalid_list_input_is_a_400_naming_the_field(auth_client, body, field):
    response = auth_client.post(LISTS, body, format="json")

    problem = assert_problem(response, status.HTTP_400_BAD_REQUEST)
    assert field in {error["field"] for error in problem["errors"]}


def test_a_list_name_is_unique_per_user_in_any_letter_case_a_409_on_name(
    auth_client, other_client
):
    _make_list(auth_client, "Work")

    response = auth_client.post(LISTS, {"name": "WORK"}, format="json")
    problem = assert_problem(response, status.HTTP_409_CONFLICT)
    assert [e["field"] for e in problem["errors"]] == ["name"]
    # Another user may have a list of the same name.
    _make_list(other_client, "work")


def test_renaming_a_list_onto_another_of_its_names_is_a_409(auth_client):
    _make_list(auth_client, "Work")
    home = _make_list(auth_client, "Home")

    response = auth_client.patch(_list_url(home["id"]), {"name": "work"}, format="json")

    assert_problem(response, status.HTTP_409_CONFLICT)
    same = auth_client.patch(_list_url(home["id"]), {"name": "HOME"}, format="json")
    assert same.status_code == status.HTTP_200_OK
    assert same.json()["name"] == "HOME"


def test_list_updates_are_conditional(auth_client):
    work = _make_list(auth_client, "Work")
    url = _list_url(work["id"])
    etag = auth_client.get(url)["ETag"]

    assert auth_client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    changed = auth_client.patch(
        url, {"color": "red"}, format="json", HTTP_IF_MATCH=etag
    )
    assert changed.status_code == status.HTTP_200_OK
    assert changed["ETag"] != etag
    stale = auth_client.patch(url, {"color": "teal"}, format="json", HTTP_IF_MATCH=etag)
    assert_problem(stale, status.HTTP_412_PRECONDITION_FAILED)
    assert TaskList.objects.get(pk=work["id"]).color == "red"


def test_put_on_a_list_resets_the_colour(auth_client):
    work = _make_list(auth_client, "Work", color="red")

    response = auth_client.put(_list_url(work["id"]), {"name": "Job"}, format="json")

    assert response.status_code == status.HTTP_200_OK
    assert (response.json()["name"], response.json()["color"]) == ("Job", None)


def test_another_users_list_is_a_404_for_every_method(auth_client, other_client):
    theirs = _make_list(other_client, "Theirs")
    url = _list_url(theirs["id"])

    for response in [
        auth_client.get(url),
        auth_client.patch(url, {"name": "Mine"}, format="json"),
        auth_client.put(url, {"name": "Mine"}, format="json"),
        auth_client.delete(url + "?tasks=delete"),
    ]:
        assert_problem(response, status.HTTP_404_NOT_FOUND)
    assert auth_client.get(LISTS).json() == []
    assert TaskList.objects.get(pk=theirs["id"]).name == "Theirs"


# --- a task's list -------------------------------------------------------------------


def test_a_task_is_created_in_a_list_and_moved_to_the_inbox(auth_client):
    work = _make_list(auth_client, "Work")

    created = auth_client.post(TASKS, {"title": "t", "list": work["id"]}, format="json")
    assert created.status_code == status.HTTP_201_CREATED
    assert created.json()["list"] == work["id"]

    moved = auth_client.patch(
        _task_url(created.json()["id"]), {"list": None}, format="json"
    )
    assert moved.json()["list"] is None
    assert Task.objects.get(pk=created.json()["id"]).list_id is None


def test_a_task_without_a_list_is_in_the_inbox(auth_client):
    created = auth_client.post(TASKS, {"title": "t"}, format="json").json()

    assert (created["list"], created["labels"]) == (None, [])


def test_another_users_list_on_a_task_is_a_400_that_tells_nothing(
    auth_client, other_client
):
    theirs = _make_list(other_client, "Theirs")
    missing = "0190d4a8-0000-7000-8000-000000000000"

    foreign = auth_client.post(
        TASKS, {"title": "t", "list": theirs["id"]}, format="json"
    )
    unknown = auth_client.post(TASKS, {"title": "t", "list": missing}, format="json")

    first = assert_problem(foreign, status.HTTP_400_BAD_REQUEST)
    second = assert_problem(unknown, status.HTTP_400_BAD_REQUEST)
    assert first["errors"] == second["errors"]
    assert [e["field"] for e in first["errors"]] == ["list"]
    assert not Task.objects.exists()


def test_deleting_a_list_requires_saying_what_becomes_of_its_tasks(auth_client):
    work = _make_list(auth_client, "Work")
    auth_client.post(TASKS, {"title": "t", "list": work["id"]}, format="json")

    for query in ["", "?tasks=", "?tasks=keep", "?tasks=delete&x=1"]:
        response = auth_client.delete(_list_url(work["id"]) + query)
        assert_problem(response, status.HTTP_400_BAD_REQUEST)
    assert TaskList.objects.filter(pk=work["id"]).exists()
    assert Task.objects.count() == 1


def test_deleting_a_list_can_move_its_tasks_to_the_inbox(auth_client, user):
    work = _make_list(auth_client, "Work")
    task = auth_client.post(
        TASKS, {"title": "t", "list": work["id"]}, format="json"
    ).json()
    other = TaskFactory.create(owner=user)

    response = auth_client.delete(_list_url(work["id"]) + "?tasks=move_to_inbox")

    assert response.status_code == status.HTTP_204_NO_CONTENT
    assert not TaskList.objects.exists()
    moved = Task.objects.get(pk=task["id"])
    assert (moved.list_id, moved.version) == (None, 2)
    assert Task.objects.get(pk=other.pk).version == 1


def test_deleting_a_list_can_delete_its_tasks(auth_client, user):
    work = _make_list(auth_client, "Work")
    label = _make_label(auth_client)
    auth_client.post(
        TASKS,
        {"title": "t", "list": work["id"], "labels": [label["id"]]},
        format="json",
    )
    kept = TaskFactory.create(owner=user)

    response = auth_client.delete(_list_url(work["id"]) + "?tasks=delete")

    assert response.status_code == status.HTTP_204_NO_CONTENT
    assert list(Task.objects.all()) == [kept]
    assert not TaskLabel.objects.exists()
    assert Label.objects.count() == 1


# --- labels --------------------------------------------------------------------------


def test_labels_crud_and_case_insensitive_names(auth_client):
    b = _make_label(auth_client, "beta", color="green")
    a = _make_label(auth_client, "Alpha")

    assert [item["name"] for item in auth_client.get(LABELS).json()] == [
        "Alpha",
        "beta",
    ]
    assert_problem(
        auth_client.post(LABELS, {"name": "ALPHA"}, format="json"),
        status.HTTP_409_CONFLICT,
    )
    renamed = auth_client.patch(_label_url(a["id"]), {"name": "gamma"}, format="json")
    assert renamed.json()["name"] == "gamma"
    assert set(b) == {"id", "name", "color", "created_at", "updated_at"}


def test_a_task_carries_labels_written_as_ids(auth_client):
    a = _make_label(auth_client, "a")
    b = _make_label(auth_client, "b")

    created = auth_client.post(
        TASKS, {"title": "t", "labels": [b["id"], a["id"], b["id"]]}, format="json"
    )
    assert created.status_code == status.HTTP_201_CREATED
    assert created.json()["labels"] == sorted([a["id"], b["id"]])
    url = _task_url(created.json()["id"])
    assert auth_client.get(url).json()["labels"] == sorted([a["id"], b["id"]])

    changed = auth_client.patch(url, {"labels": [a["id"]]}, format="json")
    assert changed.json()["labels"] == [a["id"]]
    assert changed["ETag"] != created["ETag"]
    assert auth_client.get(url).json()["labels"] == [a["id"]]


def test_changing_only_the_labels_moves_the_version_and_same_labels_do_not(
    auth_client,
):
    a = _make_label(auth_client, "a")
    task = auth_client.post(TASKS, {"title": "t"}, format="json").json()
    url = _task_url(task["id"])

    first = auth_client.patch(url, {"labels": [a["id"]]}, format="json")
    again = auth_client.patch(url, {"labels": [a["id"]]}, format="json")

    assert first["ETag"].endswith('.2"')
    assert again["ETag"] == first["ETag"]


def test_another_users_label_is_a_400_naming_the_field(auth_client, other_client):
    theirs = _make_label(other_client, "theirs")
    mine = _make_label(auth_client, "mine")
    task = auth_client.post(TASKS, {"title": "t"}, format="json").json()

    response = auth_client.patch(
        _task_url(task["id"]), {"labels": [mine["id"], theirs["id"]]}, format="json"
    )

    problem = assert_problem(response, status.HTTP_400_BAD_REQUEST)
    assert [e["field"] for e in problem["errors"]] == ["labels"]
    assert "theirs" not in response.content.decode()
    assert not TaskLabel.objects.exists()


def test_deleting_a_label_takes_it_off_tasks_and_moves_their_version(auth_client):
    a = _make_label(auth_client, "a")
    task = auth_client.post(
        TASKS, {"title": "t", "labels": [a["id"]]}, format="json"
    ).json()

    assert auth_client.delete(_label_url(a["id"])).status_code == 204

    after = auth_client.get(_task_url(task["id"]))
    assert after.json()["labels"] == []
    assert after["ETag"].endswith('.2"')


def test_put_on_a_task_clears_labels_and_list_left_out(auth_client):
    work = _make_list(auth_client, "Work")
    a = _make_label(auth_client, "a")
    task = auth_client.post(
        TASKS, {"title": "t", "list": work["id"], "labels": [a["id"]]}, format="json"
    ).json()

    response = auth_client.put(_task_url(task["id"]), {"title": "u"}, format="json")

    assert (response.json()["list"], response.json()["labels"]) == (None, [])


# --- filters -------------------------------------------------------------------------


def _titles(client, query: str) -> list[str]:
    response = client.get(TASKS + query)
    assert response.status_code == status.HTTP_200_OK, response.content
    return sorted(item["title"] for item in response.json()["results"])


def test_filters_by_list_inbox_and_labels(auth_client):
    work = _make_list(auth_client, "Work")
    a = _make_label(auth_client, "a")
    b = _make_label(auth_client, "b")
    for title, task_list, labels in [
        ("inbox-a", None, [a["id"]]),
        ("work-ab", work["id"], [a["id"], b["id"]]),
        ("work-b", work["id"], [b["id"]]),
        ("work-none", work["id"], []),
    ]:
        auth_client.post(
            TASKS, {"title": title, "list": task_list, "labels": labels}, format="json"
        )

    assert _titles(auth_client, f"?list={work['id']}") == [
        "work-ab",
        "work-b",
        "work-none",
    ]
    assert _titles(auth_client, "?list=inbox") == ["inbox-a"]
    assert _titles(auth_client, f"?label={a['id']}") == ["inbox-a", "work-ab"]
    assert _titles(auth_client, f"?label={a['id']},{b['id']}") == [
        "inbox-a",
        "work-ab",
        "work-b",
    ]
    assert _titles(auth_client, f"?label_all={a['id']},{b['id']}") == ["work-ab"]
    assert _titles(auth_client, f"?list={work['id']}&label={b['id']}") == [
        "work-ab",
        "work-b",
    ]


@pytest.mark.parametrize(
    "query",
    ["?list=nope", "?label=nope", "?label_all=1,2", "?label=" + ",".join(["x"] * 21)],
)
def test_malformed_list_and_label_filters_are_400s(auth_client, query):
    assert_problem(auth_client.get(TASKS + query), status.HTTP_400_BAD_REQUEST)


def test_a_page_with_labels_is_two_queries(auth_client, django_assert_max_num_queries):
    work = _make_list(auth_client, "Work")
    labels = [_make_label(auth_client, f"l{n}")["id"] for n in range(3)]
    for n in range(30):
        auth_client.post(
            TASKS,
            {"title": f"t{n}", "list": work["id"], "labels": labels[: n % 4]},
            format="json",
        )

    with django_assert_max_num_queries(2):
        response = auth_client.get(TASKS + "?page_size=50")

    results = response.json()["results"]
    assert len(results) == 30
    assert sum(len(item["labels"]) for item in results) == sum(n % 4 for n in range(30))


# --- the database's guarantee --------------------------------------------------------


def _raw(sql: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.postgres(reason="the composite foreign keys exist on PostgreSQL only")
def test_the_database_refuses_a_task_in_another_users_list(user, other_user):
    theirs = TaskList.objects.create(owner=other_user, name="x", position=1)
    task = TaskFactory.create(owner=user)

    with pytest.raises(IntegrityError, match="todos_task_list_same_owner_fk"):
        _raw("UPDATE todos_task SET list_id = %s WHERE id = %s", [theirs.pk, task.pk])
    with pytest.raises(IntegrityError, match="todos_task_list_same_owner_fk"):
        Task.objects.filter(pk=task.pk).update(list=theirs)


@pytest.mark.postgres(reason="the composite foreign keys exist on PostgreSQL only")
def test_the_database_refuses_a_link_across_owners(user, other_user):
    task = TaskFactory.create(owner=user)
    theirs = Label.objects.create(owner=other_user, name="x")

    for owner in (user, other_user):
        with pytest.raises(IntegrityError, match="same_owner_fk"):
            _raw(
                "INSERT INTO todos_tasklabel (owner_id, task_id, label_id) "
                "VALUES (%s, %s, %s)",
                [owner.pk, task.pk, theirs.pk],
            )


@pytest.mark.postgres(reason="the cascades are PostgreSQL's")
def test_raw_deletes_cascade_to_links_and_refuse_a_list_with_tasks(user):
    task_list = TaskList.objects.create(owner=user, name="x", position=1)
    task = TaskFactory.create(owner=user, list=task_list)
    label = Label.objects.create(owner=user, name="x")
    TaskLabel.objects.create(owner=user, task=task, label=label)

    with pytest.raises(IntegrityError):
        _raw("DELETE FROM todos_tasklist WHERE id = %s", [task_list.pk])
    _raw("DELETE FROM todos_label WHERE id = %s", [label.pk])
    assert not TaskLabel.objects.exists()
    _raw("DELETE FROM accounts_user WHERE id = %s", [user.pk])
    assert not TaskList.objects.exists()
    assert not Task.objects.exists()


def test_the_unique_key_decides_when_a_name_races_past_the_serializer(user):
    """Services called directly skip the serializer's check, as a racing request's
    write would: the database's case-insensitive key still refuses the name."""
    services.label_create(owner=user, name="Race")
    services.task_list_create(owner=user, name="Race")

    with pytest.raises(services.NameTaken):
        services.label_create(owner=user, name="race")
    with pytest.raises(services.NameTaken):
        services.task_list_create(owner=user, name="RACE")
    assert (Label.objects.count(), TaskList.objects.count()) == (1, 1)
