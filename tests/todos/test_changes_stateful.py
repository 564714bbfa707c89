"""Offline clients under random histories: every replica ends equal to the server.

A hypothesis state machine plays one user with several offline clients (each a
replica of tasks, lists and labels, and a sync token) against the real API: task
creates, edits, completions, deletes, filing into lists and labelling; list and
label creates, renames, recolours, moves and deletes (a list's tasks moved to the
inbox or deleted with it); and syncs that fetch one small page at a time, so that
writes land between the pages of a sync in progress. Another user writes all along,
and on PostgreSQL a writer in another thread (its own connection) commits while a
page is being read. The checks:

* whenever a client's sync reaches the end (``has_more`` false), its replica is
  exactly the server's tasks, lists and labels, ETags included;
* no page ever names another user's task, list or label, changed or deleted;
* at the end every client syncs to the end and holds the server's state.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import pytest
from django.core.cache import cache
from django.db import connection
from django.urls import reverse
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework.test import APIClient

from accounts.models import User
from tests.conftest import bearer
from tests.factories import UserFactory
from tests.support.races import race
from todos import services
from todos.models import Color, Label, Task, TaskLabel, TaskList

CHANGES = reverse("todos:task-changes")
LIST = reverse("todos:task-list")
CLIENTS = 3
MACHINE_SETTINGS = settings(max_examples=15, stateful_step_count=30, deadline=None)
# Titles are not under test here (the views' tests hold their validation).
TITLES = st.text(alphabet="abcdéf 0", min_size=1, max_size=12).filter(str.strip)
COLORS = st.sampled_from([None, *Color.values])
# The feed's kinds: the replica key's first part, the page's part, the item key.
KINDS: dict[str, tuple[Any, str]] = {
    "task": (Task, "todos:task-detail"),
    "list": (TaskList, "todos:list-detail"),
    "label": (Label, "todos:label-detail"),
}
Replica = dict[tuple[str, str], tuple[dict[str, Any], str]]


class OfflineClientsMachine(RuleBasedStateMachine):
    steps: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        cache.clear()
        self.user = UserFactory.create()
        self.other = UserFactory.create()
        self.api = APIClient()
        self.api.credentials(HTTP_AUTHORIZATION=bearer(self.user))
        self.replicas: list[Replica] = [{} for _ in range(CLIENTS)]
        self.tokens: list[str | None] = [None] * CLIENTS
        self.others_ids: set[str] = set()

    def teardown(self) -> None:
        User.objects.filter(pk__in=[self.user.pk, self.other.pk]).delete()
        cache.clear()

    # --- the server as the list endpoint shows it ----------------------------------

    def server(self) -> Replica:
        state = {}
        for kind, (model, route) in KINDS.items():
            for pk in model.objects.filter(owner=self.user).values_list(
                "pk", flat=True
            ):
                response = self.api.get(reverse(route, args=[pk]))
                assert response.status_code == 200
                state[kind, str(pk)] = (response.json(), response["ETag"])
        return state

    def ids(self, kind: str) -> list[str]:
        rows = KINDS[kind][0].objects.filter(owner=self.user)
        return sorted(str(pk) for pk in rows.values_list("pk", flat=True))

    def task_ids(self) -> list[str]:
        return self.ids("task")

    # --- the user's writes, through the API ----------------------------------------

    @initialize(count=st.integers(0, 4))
    def a_few_tasks(self, count: int) -> None:
        for n in range(count):
            assert self.api.post(LIST, {"title": f"initial {n}"}).status_code == 201

    @rule(title=TITLES)
    def create(self, title: str) -> None:
        type(self).steps += 1
        assert self.api.post(LIST, {"title": title}).status_code == 201

    @precondition(lambda self: Task.objects.filter(owner=self.user).exists())
    @rule(data=st.data(), title=TITLES)
    def edit(self, data: st.DataObject, title: str) -> None:
        type(self).steps += 1
        task_id = data.draw(st.sampled_from(self.task_ids()))
        url = reverse("todos:task-detail", args=[task_id])
        assert self.api.patch(url, {"title": title}).status_code == 200

    @precondition(lambda self: Task.objects.filter(owner=self.user).exists())
    @rule(data=st.data(), verb=st.sampled_from(["complete", "reopen"]))
    def complete_or_reopen(self, data: st.DataObject, verb: str) -> None:
        type(self).steps += 1
        task_id = data.draw(st.sampled_from(self.task_ids()))
        url = reverse(f"todos:task-{verb}", args=[task_id])
        assert self.api.post(url).status_code == 200

    @precondition(lambda self: Task.objects.filter(owner=self.user).exists())
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        type(self).steps += 1
        task_id = data.draw(st.sampled_from(self.task_ids()))
        url = reverse("todos:task-detail", args=[task_id])
        assert self.api.delete(url).status_code == 204

    # --- lists and labels -----------------------------------------------------------

    @initialize(lists=st.integers(0, 2), labels=st.integers(1, 3))
    def a_few_lists_and_labels(self, lists: int, labels: int) -> None:
        for kind, count in (("list", lists), ("label", labels)):
            for n in range(count):
                body = {"name": f"initial {kind} {n}"}
                response = self.api.post(reverse(f"todos:{kind}-list"), body)
                assert response.status_code == 201

    @rule(kind=st.sampled_from(["list", "label"]), color=COLORS)
    def create_list_or_label(self, kind: str, color: str | None) -> None:
        type(self).steps += 1
        url = reverse(f"todos:{kind}-list")
        body = {"name": f"{kind} {uuid.uuid4().hex[:8]}", "color": color}
        assert self.api.post(url, body, format="json").status_code == 201

    @precondition(lambda self: bool(self.ids("list") or self.ids("label")))
    @rule(data=st.data(), rename=st.booleans(), color=COLORS)
    def edit_list_or_label(
        self, data: st.DataObject, rename: bool, color: str | None
    ) -> None:
        type(self).steps += 1
        kind = data.draw(st.sampled_from([k for k in ("list", "label") if self.ids(k)]))
        pk = data.draw(st.sampled_from(self.ids(kind)))
        body: dict[str, str | None] = {}
        if rename:
            body["name"] = f"renamed {uuid.uuid4().hex[:8]}"
        body["color"] = color
        url = reverse(f"todos:{kind}-detail", args=[pk])
        assert self.api.patch(url, body, format="json").status_code == 200

    @precondition(lambda self: bool(self.ids("list")))
    @rule(data=st.data(), to=st.sampled_from(["top", "bottom", "before", "after"]))
    def move_list(self, data: st.DataObject, to: str) -> None:
        type(self).steps += 1
        lists = self.ids("list")
        pk = data.draw(st.sampled_from(lists))
        body: dict[str, str] = {"to": to}
        if to in ("before", "after"):
            others = [other for other in lists if other != pk]
            if not others:
                return
            body = {to: data.draw(st.sampled_from(others))}
        url = reverse("todos:list-move", args=[pk])
        assert self.api.post(url, body, format="json").status_code == 200

    @precondition(lambda self: bool(self.ids("list") or self.ids("label")))
    @rule(data=st.data(), tasks=st.sampled_from(["move_to_inbox", "delete"]))
    def delete_list_or_label(self, data: st.DataObject, tasks: str) -> None:
        type(self).steps += 1
        kind = data.draw(st.sampled_from([k for k in ("list", "label") if self.ids(k)]))
        pk = data.draw(st.sampled_from(self.ids(kind)))
        url = reverse(f"todos:{kind}-detail", args=[pk])
        if kind == "list":
            url += f"?tasks={tasks}"
        assert self.api.delete(url).status_code == 204

    @precondition(lambda self: TaskLabel.objects.filter(owner=self.user).exists())
    @rule(data=st.data())
    def delete_a_label_in_use(self, data: st.DataObject) -> None:
        """The label's tasks change too: their labels and versions move."""
        type(self).steps += 1
        in_use = TaskLabel.objects.filter(owner=self.user).values_list("label_id")
        pk = data.draw(st.sampled_from(sorted(str(row[0]) for row in in_use)))
        url = reverse("todos:label-detail", args=[pk])
        assert self.api.delete(url).status_code == 204

    @precondition(lambda self: Task.objects.filter(owner=self.user).exists())
    @rule(data=st.data())
    def file_and_label_a_task(self, data: st.DataObject) -> None:
        type(self).steps += 1
        task_id = data.draw(st.sampled_from(self.task_ids()))
        labels = self.ids("label")
        chosen = (
            data.draw(st.lists(st.sampled_from(labels), min_size=1, max_size=3))
            if labels
            else []
        )
        body = {
            "list": data.draw(st.sampled_from([None, *self.ids("list")])),
            "labels": sorted(set(chosen)),
        }
        url = reverse("todos:task-detail", args=[task_id])
        response = self.api.patch(url, body, format="json")
        assert response.status_code == 200, response.content[:300]

    @rule(data=st.data())
    def other_user_writes(self, data: st.DataObject) -> None:
        type(self).steps += 1
        if data.draw(st.booleans()):
            name = f"theirs {uuid.uuid4().hex[:8]}"
            row: TaskList | Label
            if data.draw(st.booleans()):
                row = services.task_list_create(owner=self.other, name=name)
            else:
                row = services.label_create(owner=self.other, name=name)
            self.others_ids.add(str(row.pk))
            if data.draw(st.booleans()):
                services.named_update(obj=row, changes={"name": name + " edited"})
            return
        theirs = list(Task.objects.filter(owner=self.other))
        change: bool = bool(theirs) and data.draw(st.booleans())
        if change:
            task = data.draw(st.sampled_from(theirs))
            if data.draw(st.booleans()):
                services.task_delete(task=task)
            else:
                services.task_update(task=task, changes={"title": "theirs, edited"})
        else:
            task = services.task_create(owner=self.other, title="theirs")
            self.others_ids.add(str(task.pk))

    # --- syncing ---------------------------------------------------------------------

    def _page(self, client: int, limit: int) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if self.tokens[client] is not None:
            params["since"] = self.tokens[client]
        response = self.api.get(CHANGES, params)
        assert response.status_code == 200, response.content[:300]
        return response.json()

    def _apply(self, client: int, page: dict[str, Any]) -> None:
        replica = self.replicas[client]
        parts = {"task": page, "list": page["lists"], "label": page["labels"]}
        for kind, part in parts.items():
            named = {item[kind]["id"] for item in part["changed"]}
            named |= set(part["deleted"])
            assert not named & self.others_ids, f"another user's {kind} in the feed"
            for item in part["changed"]:
                replica[kind, item[kind]["id"]] = (item[kind], item["etag"])
            for pk in part["deleted"]:
                replica.pop((kind, pk), None)
        self.tokens[client] = page["since"]

    @rule(client=st.integers(0, CLIENTS - 1), limit=st.integers(1, 4))
    def sync_one_page(self, client: int, limit: int) -> None:
        type(self).steps += 1
        page = self._page(client, limit)
        self._apply(client, page)
        if not page["has_more"]:
            assert self.replicas[client] == self.server()

    @precondition(lambda self: connection.vendor == "postgresql")
    @rule(client=st.integers(0, CLIENTS - 1), limit=st.integers(1, 4))
    def sync_one_page_while_another_thread_writes(
        self, client: int, limit: int
    ) -> None:
        """A write committed by another connection while the page is read."""
        type(self).steps += 1
        owner = self.user

        def write() -> None:
            task = Task.objects.filter(owner=owner).first()
            if task is None:
                services.task_create(owner=owner, title="from another thread")
            else:
                services.task_update(task=task, changes={"title": uuid.uuid4().hex[:8]})

        page, _ = race([lambda: self._page(client, limit), write])
        self._apply(client, page)

    def _sync_to_the_end(self, client: int) -> None:
        while True:
            page = self._page(client, 5)
            self._apply(client, page)
            if not page["has_more"]:
                return

    @invariant()
    def throttling_is_not_under_test(self) -> None:
        cache.clear()

    def check_the_end(self) -> None:
        for client in range(CLIENTS):
            self._sync_to_the_end(client)
            assert self.replicas[client] == self.server()


class EndChecked(OfflineClientsMachine):
    def teardown(self) -> None:
        try:
            self.check_the_end()
        finally:
            super().teardown()


@pytest.mark.django_db(transaction=True)
def test_offline_clients_end_with_the_servers_tasks_lists_and_labels() -> None:
    EndChecked.steps = 0
    run_state_machine_as_test(EndChecked, settings=MACHINE_SETTINGS)
    assert EndChecked.steps > 0
