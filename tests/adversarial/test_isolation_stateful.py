"""Isolation under random request sequences: four users, every task verb, foreign ids.

A hypothesis state machine drives the real API in-process (URLconf, JWT
authentication, middleware, throttling, the problem+json handler) and keeps a Python
model of every user's tasks. Each step acts as one user, on one of that user's tasks
or on another user's, a deleted, a random or a malformed id, with random
``If-Match``/``If-None-Match`` headers. The checks:

* no response ever carries another user's task: neither its id (in any spelling) nor
  the unique token every title carries, in the body or the headers;
* a step changes no row of any other user (a snapshot of every column before and
  after), and the database holds exactly the model, version and timestamps included;
* foreign, deleted, random and malformed ids all get the very same 404 as a missing
  task, never a 403, 400, 412 or 304 that would tell them apart; the same holds for
  the routes of lists and labels (rename, delete);
* a task write naming another user's (or a deleted, or a random) list or label is a
  400 on ``list`` or ``labels``, worded as for an id that exists nowhere; a user's
  tasks only ever reference that user's lists and labels, and the list and label
  collections show exactly the user's own;
* walking every page of a list with random filters, ordering and page size (and back
  again) gives exactly the model's matching tasks of that user, once each, in order;
  a cursor handed to another user only ever pages through that user's own tasks.

Every request commits for real (``transactional_db``), as in production, and each
example deletes its users and tasks when it ends. CI runs a bounded machine;
``make stress`` (``STRESS=1``) runs about 10,000 steps.
"""

from __future__ import annotations

import builtins
import datetime
import os
import string
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
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
from rest_framework import status
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from tests.factories import TaskFactory, UserFactory
from todos.expressions import DatabaseNow
from todos.models import PRIORITY_BY_NAME, Label, Task, TaskLabel, TaskList, TaskStatus
from todos.pagination import ORDERINGS, TaskCursorPagination

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as HttpResponse

STRESS = os.environ.get("STRESS", "") not in {"", "0"}

# CI: 25 examples of up to 30 steps. make stress: rounds of 100 examples of up to 50
# steps until 10,000 steps have run (an example stops early once it has drawn a lot).
STRESS_STEPS = 10_000
MACHINE_SETTINGS = settings(
    max_examples=100 if STRESS else 25,
    stateful_step_count=50 if STRESS else 30,
    # Requests hit a real database (PostgreSQL, possibly behind PgBouncer, on a
    # loaded CI machine): their latency says nothing about correctness.
    deadline=None,
)

N_USERS = 4
ACTORS = st.integers(min_value=0, max_value=N_USERS - 1)
LIST = reverse("todos:task-list")
LISTS = reverse("todos:list-list")
LABELS = reverse("todos:label-list")
# Where a list's or label's id (for a task's list or labels) is drawn from.
REF_KINDS = ["own", "own", "own", "none", "foreign", "deleted", "random"]
STATUSES = [s.value for s in TaskStatus]
PRIORITIES = list(PRIORITY_BY_NAME)
PAGE_SIZE = TaskCursorPagination.page_size
MAX_PAGE_SIZE = TaskCursorPagination.max_page_size

# Text that every backend compares alike: the searches below are ASCII (plus the
# token mark), and no character here case-folds into ASCII. "§" only ever appears
# in the per-task tokens.
TEXT = st.text(
    alphabet=string.ascii_letters + string.digits + " \t\n_%\\-.,!?'\"éü日本語🙂",
    max_size=30,
)
MALFORMED_IDS = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "-_~", min_size=1),
    st.sampled_from(["0", "-1", "null", "None", "true", "[]", "%00", "{}", " "]),
)
ID_FORMS = ["canonical", "canonical", "upper", "hex", "braces", "urn"]
TARGET_KINDS = ["own", "own", "own", "foreign", "deleted", "random", "malformed"]
# If-Match variants; the first four let a write through on the owner's own task.
IF_MATCH_PASSES = ["absent", "current", "star", "list"]
IF_MATCH_MODES = [*IF_MATCH_PASSES, "stale", "weak", "garbage"]

_NOW = timezone.now()
_DAY = datetime.timedelta(days=1)
# Far enough from "now" that ?overdue= cannot flip while a run is going.
DUE_VALUES: list[datetime.datetime | None] = [
    None,
    _NOW - 400 * _DAY,
    _NOW - 3 * _DAY,
    _NOW + 3 * _DAY,
    _NOW + 400 * _DAY,
    datetime.datetime(2001, 2, 3, 4, 5, 6, 789, tzinfo=datetime.UTC),
    datetime.datetime(2099, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
]
OFFSETS = [
    datetime.UTC,
    datetime.timezone(datetime.timedelta(hours=5, minutes=30)),
    datetime.timezone(datetime.timedelta(hours=-8)),
]
FILTERS = [
    "status",
    "priority",
    "due_before",
    "due_after",
    "overdue",
    "has_due",
    "created_after",
    "created_before",
    "updated_after",
    "search",
]
TIME_FILTERS = {
    "due_before": ("due_at", -1),
    "due_after": ("due_at", 1),
    "created_after": ("created_at", 1),
    "created_before": ("created_at", -1),
    "updated_after": ("updated_at", 1),
}
CHANGEABLE = ["title", "description", "status", "priority", "due_at"]
# Task keys that name other rows: a write may carry them beside the CHANGEABLE ones.
REFERENCES = ["list", "labels"]


def _parse_time(value: str | None) -> datetime.datetime | None:
    return None if value is None else datetime.datetime.fromisoformat(value)


def _etag_version(response: HttpResponse, task_id: str) -> int:
    etag = response["ETag"]
    prefix = f'"{task_id}.'
    assert etag.startswith(prefix), etag
    assert etag.endswith('"'), etag
    return int(etag[len(prefix) : -1])


@dataclass
class ModelTask:
    """What the API must say about one task, kept in step with each response."""

    id: str
    owner: int
    token: str
    title: str
    description: str
    status: str
    priority: str
    due_at: datetime.datetime | None
    completed_at: datetime.datetime | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int
    alive: bool = True
    list: str | None = None
    labels: tuple[str, ...] = ()

    def content(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in [*CHANGEABLE, *REFERENCES]}

    def representation(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.content(),
            "completed_at": self.completed_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "list": self.list,
            "labels": sorted(self.labels),
        }

    def spellings(self) -> builtins.list[str]:  # (``list`` is a field here)
        return [self.id, self.id.replace("-", ""), self.id.upper()]


def _as_values(body: dict[str, Any]) -> dict[str, Any]:
    """A task body with its timestamps parsed, comparable to the model."""
    out = dict(body)
    for name in ("due_at", "completed_at", "created_at", "updated_at"):
        out[name] = _parse_time(body[name])
    out["labels"] = sorted(body["labels"])
    return out


@dataclass
class ModelGroup:
    """A list or a label, as the machine knows it."""

    id: str
    owner: int
    name: str
    alive: bool = True


@dataclass(frozen=True)
class Target:
    """An id put in a URL, and the model task it names if any."""

    raw: str
    task_id: str | None
    kind: str


@dataclass
class Link:
    """A ``next`` link handed to a user, for the cursor replay rule."""

    url: str
    owner: int


class TaskIsolationMachine(RuleBasedStateMachine):
    """Four users with their own API clients, and the model of all their tasks."""

    steps: ClassVar[int] = 0  # rules run, for the stress report

    def __init__(self) -> None:
        super().__init__()
        cache.clear()
        self.users: list[User] = [UserFactory.create() for _ in range(N_USERS)]
        self.clients: list[APIClient] = []
        for user in self.users:
            client = APIClient()
            client.credentials(
                HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}"
            )
            self.clients.append(client)
        self.tasks: dict[str, ModelTask] = {}
        self.groups: dict[str, dict[str, ModelGroup]] = {"list": {}, "label": {}}
        self.links: list[Link] = []
        self.counter = 0
        self.actor: int | None = None
        self.snapshot = self._rows()
        missing = self.clients[0].get(reverse("todos:task-detail", args=[uuid.uuid4()]))
        assert missing.status_code == status.HTTP_404_NOT_FOUND
        assert missing["Content-Type"] == "application/problem+json"
        self.not_found = missing.json()
        for kind in ("list", "label"):
            url = reverse(f"todos:{kind}-detail", args=[uuid.uuid4()])
            assert self.clients[0].get(url).json() == self.not_found

    def teardown(self) -> None:
        Task.objects.all().delete()
        TaskList.objects.all().delete()
        Label.objects.all().delete()
        User.objects.filter(pk__in=[user.pk for user in self.users]).delete()
        cache.clear()

    # --- helpers ---------------------------------------------------------------------

    def _begin(self, actor: int, *, new_step: bool = True) -> None:
        type(self).steps += new_step
        self.actor = actor
        # Throttling is not under test here; a long list walk must not meet a 429.
        cache.clear()

    def _call(
        self,
        actor: int,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        """Send as ``actor``; check the response leaks nothing of another user's.

        Ids the request itself carried may come back (a 400 may name the value it
        refuses): the caller knew them already.
        """
        extra = {
            "HTTP_" + name.upper().replace("-", "_"): value
            for name, value in (headers or {}).items()
        }
        client = self.clients[actor]
        if body is None:
            response = getattr(client, method)(url, **extra)
        else:
            response = getattr(client, method)(url, body, format="json", **extra)
        self._check_no_leak(actor, response, sent=f"{url} {body!r}")
        return response

    def _check_no_leak(
        self, actor: int, response: HttpResponse, *, sent: str = ""
    ) -> None:
        assert response.status_code < 500, response.content
        if response.status_code >= 400:
            assert response["Content-Type"] == "application/problem+json"
        seen = response.content.decode() + "".join(
            f"\n{name}: {value}" for name, value in response.headers.items()
        )
        for task in self.tasks.values():
            if task.owner == actor:
                continue
            for needle in [*task.spellings(), task.token]:
                assert needle not in seen, (
                    f"user {actor} was shown user {task.owner}'s task {task.id}"
                )
        for kind, groups in self.groups.items():
            for group in groups.values():
                if group.owner == actor:
                    continue
                for needle in (group.id, group.id.upper(), group.name):
                    if needle.lower() in sent.lower():
                        continue
                    assert needle not in seen, (
                        f"user {actor} was shown user {group.owner}'s {kind} {group.id}"
                    )

    def _expect_404(self, response: HttpResponse) -> None:
        assert response.status_code == status.HTTP_404_NOT_FOUND, (
            response.status_code,
            response.content,
        )
        assert response.json() == self.not_found
        assert not response.has_header("ETag")

    def _new_token(self) -> str:
        self.counter += 1
        return f"§{self.counter}§"

    def _own(self, actor: int) -> list[str]:
        return sorted(t.id for t in self.tasks.values() if t.alive and t.owner == actor)

    def _draw_target(self, data: st.DataObject, actor: int) -> Target:
        kind = data.draw(st.sampled_from(TARGET_KINDS), label="target")
        pools = {
            "own": self._own(actor),
            "foreign": sorted(
                t.id for t in self.tasks.values() if t.alive and t.owner != actor
            ),
            "deleted": sorted(t.id for t in self.tasks.values() if not t.alive),
        }
        if pools.get(kind):
            task_id = data.draw(st.sampled_from(pools[kind]), label=kind)
            form = data.draw(st.sampled_from(ID_FORMS), label="spelling")
            raw = {
                "canonical": task_id,
                "upper": task_id.upper(),
                "hex": uuid.UUID(task_id).hex,
                "braces": "{" + task_id + "}",
                "urn": f"urn:uuid:{task_id}",
            }[form]
            return Target(raw, task_id, kind)
        if kind == "malformed":
            return Target(data.draw(MALFORMED_IDS, label="malformed"), None, kind)
        return Target(str(data.draw(st.uuids(), label="random")), None, "random")

    def _owned(self, actor: int, target: Target) -> ModelTask | None:
        if target.task_id is None:
            return None
        task = self.tasks[target.task_id]
        return task if task.alive and task.owner == actor else None

    def _if_match(self, mode: str, target: Target) -> dict[str, str]:
        task = self.tasks.get(target.task_id or "")
        task_id, version = (task.id, task.version) if task else (target.raw, 1)
        value = {
            "absent": None,
            "current": f'"{task_id}.{version}"',
            "star": "*",
            "list": f'"nope", "{task_id}.{version}"',
            "stale": f'"{task_id}.{version - 1 if version > 1 else version + 1}"',
            "weak": f'W/"{task_id}.{version}"',
            "garbage": "not-an-etag",
        }[mode]
        return {} if value is None else {"If-Match": value}

    def _fields(
        self, data: st.DataObject, token: str, *, title_required: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A valid task body and what each field it carries must be stored as."""
        names = data.draw(st.sets(st.sampled_from(CHANGEABLE)), label="fields")
        if title_required:
            names.add("title")
        body: dict[str, Any] = {}
        want: dict[str, Any] = {}
        for name in sorted(names):
            if name == "title":
                pad = data.draw(st.sampled_from(["", " ", "\t "]))
                body[name] = f"{pad}{token} {data.draw(TEXT, label='title')}"
                want[name] = body[name].strip()
            elif name == "description":
                text = data.draw(TEXT, label="description")
                if data.draw(st.booleans()):
                    text = f"{text} {token}"
                body[name] = text
                want[name] = text.strip()
            elif name == "status":
                body[name] = want[name] = data.draw(st.sampled_from(STATUSES))
            elif name == "priority":
                body[name] = want[name] = data.draw(st.sampled_from(PRIORITIES))
            else:
                due = data.draw(st.sampled_from(DUE_VALUES), label="due_at")
                offset = data.draw(st.sampled_from(OFFSETS))
                body[name] = None if due is None else due.astimezone(offset).isoformat()
                want[name] = due
        return body, want

    def _check_written(
        self, task: ModelTask, want: dict[str, Any], response: HttpResponse
    ) -> None:
        """A 200 from a write: the body, ETag and bookkeeping the change implies."""
        assert response.status_code == status.HTTP_200_OK, response.content
        body = _as_values(response.json())
        new = replace(task, **want)
        changed = new.content() != task.content()
        version = _etag_version(response, task.id)
        assert version == task.version + (1 if changed else 0)
        if new.status != TaskStatus.COMPLETED:
            new.completed_at = None
        elif task.status != TaskStatus.COMPLETED:
            assert body["completed_at"] is not None
            new.completed_at = body["completed_at"]
        if changed:
            assert body["updated_at"] >= task.updated_at
            new.updated_at = body["updated_at"]
        new.version = version
        assert body == new.representation()
        self.tasks[task.id] = new

    # --- rules -----------------------------------------------------------------------

    @initialize(data=st.data())
    def a_few_tasks_each(self, data: st.DataObject) -> None:
        """Tasks, a list and a label for everyone: early steps have targets."""
        type(self).steps += 1
        for actor in range(N_USERS):
            # A list and a label each: foreign ids to try from the first step on.
            for kind in ("list", "label"):
                self._begin(actor, new_step=False)
                self._create_group(actor, kind)
            for _ in range(data.draw(st.integers(0, 4), label=f"user {actor} tasks")):
                self._begin(actor, new_step=False)
                self._create(actor, data)
                self._check_database()

    @rule(actor=ACTORS, data=st.data())
    def create(self, actor: int, data: st.DataObject) -> None:
        self._begin(actor)
        self._create(actor, data)

    def _create(self, actor: int, data: st.DataObject) -> None:
        token = self._new_token()
        body, want = self._fields(data, token, title_required=True)
        response = self._call(actor, "post", LIST, body)
        assert response.status_code == status.HTTP_201_CREATED, response.content
        got = _as_values(response.json())
        task = ModelTask(
            id=got["id"],
            owner=actor,
            token=token,
            title=want["title"],
            description=want.get("description", ""),
            status=want.get("status", TaskStatus.PENDING),
            priority=want.get("priority", "normal"),
            due_at=want.get("due_at"),
            completed_at=got["completed_at"],
            created_at=got["created_at"],
            updated_at=got["updated_at"],
            version=1,
        )
        assert (task.completed_at is not None) == (task.status == TaskStatus.COMPLETED)
        assert got == task.representation()
        assert _etag_version(response, task.id) == 1
        assert response["Location"].endswith(
            reverse("todos:task-detail", args=[task.id])
        )
        assert task.id not in self.tasks
        self.tasks[task.id] = task

    @rule(actor=ACTORS, data=st.data())
    def retrieve(self, actor: int, data: st.DataObject) -> None:
        self._begin(actor)
        target = self._draw_target(data, actor)
        mode = data.draw(st.sampled_from(["absent", "current", "star", "stale"]))
        headers = self._if_match(mode, target)
        if headers:
            headers = {"If-None-Match": headers["If-Match"]}
        url = reverse("todos:task-detail", args=[target.raw])
        response = self._call(actor, "get", url, headers=headers)
        task = self._owned(actor, target)
        if task is None:
            self._expect_404(response)
        elif mode in {"current", "star"}:
            assert response.status_code == status.HTTP_304_NOT_MODIFIED
            assert response.content == b""
            assert _etag_version(response, task.id) == task.version
        else:
            assert response.status_code == status.HTTP_200_OK, response.content
            assert _etag_version(response, task.id) == task.version
            assert _as_values(response.json()) == task.representation()

    def _write(
        self,
        actor: int,
        data: st.DataObject,
        method: str,
        action: str,
        *,
        fields: str | None = None,
    ) -> tuple[ModelTask, dict[str, Any], HttpResponse] | None:
        """Send one write to a drawn target; return what a 2xx must be checked against.

        ``fields``: "patch" or "put" to send a task body. A title always carries the
        target's own token. Anything but the caller's own task, and a failing
        ``If-Match``, are checked here and give None.
        """
        target = self._draw_target(data, actor)
        mode = data.draw(st.sampled_from(IF_MATCH_MODES), label="If-Match")
        task = self._owned(actor, target)
        body: dict[str, Any] | None = None
        want: dict[str, Any] = {}
        if fields is not None:
            named = self.tasks.get(target.task_id or "")
            token = named.token if named else self._new_token()
            body, want = self._fields(data, token, title_required=fields == "put")
            if fields == "put":
                want = {
                    "description": "",
                    "status": TaskStatus.PENDING,
                    "priority": "normal",
                    "due_at": None,
                    "list": None,
                    "labels": (),
                    **want,
                }
        url = reverse(f"todos:task-{action}", args=[target.raw])
        response = self._call(actor, method, url, body, self._if_match(mode, target))
        if task is None:
            self._expect_404(response)
            return None
        if mode not in IF_MATCH_PASSES:
            assert response.status_code == status.HTTP_412_PRECONDITION_FAILED
            return None
        return task, want, response

    @rule(actor=ACTORS, data=st.data())
    def patch(self, actor: int, data: st.DataObject) -> None:
        self._begin(actor)
        written = self._write(actor, data, "patch", "detail", fields="patch")
        if written is not None:
            self._check_written(*written)

    @rule(actor=ACTORS, data=st.data())
    def put(self, actor: int, data: st.DataObject) -> None:
        self._begin(actor)
        written = self._write(actor, data, "put", "detail", fields="put")
        if written is not None:
            self._check_written(*written)

    @rule(actor=ACTORS, data=st.data())
    def delete(self, actor: int, data: st.DataObject) -> None:
        self._begin(actor)
        written = self._write(actor, data, "delete", "detail")
        if written is not None:
            task, _, response = written
            assert response.status_code == status.HTTP_204_NO_CONTENT
            assert response.content == b""
            task.alive = False

    @rule(actor=ACTORS, data=st.data())
    def complete(self, actor: int, data: st.DataObject) -> None:
        self._begin(actor)
        written = self._write(actor, data, "post", "complete")
        if written is not None:
            task, _, response = written
            self._check_written(task, {"status": TaskStatus.COMPLETED}, response)

    @rule(actor=ACTORS, data=st.data())
    def reopen(self, actor: int, data: st.DataObject) -> None:
        self._begin(actor)
        written = self._write(actor, data, "post", "reopen")
        if written is not None:
            task, _, response = written
            want: dict[str, Any] = {}
            if task.status == TaskStatus.COMPLETED:
                want = {"status": TaskStatus.PENDING}
            self._check_written(task, want, response)

    # --- lists and labels ------------------------------------------------------------

    def _groups(self, kind: str, *, actor: int, alive: bool = True) -> list[str]:
        return [
            g.id
            for g in self.groups[kind].values()
            if g.alive == alive and (g.owner == actor or not alive)
        ]

    def _pools(self, kind: str, actor: int) -> dict[str, list[str]]:
        """The lists' or labels' ids by how they stand to ``actor``."""
        return {
            "own": self._groups(kind, actor=actor),
            "foreign": [
                g.id for g in self.groups[kind].values() if g.alive and g.owner != actor
            ],
            "deleted": self._groups(kind, actor=actor, alive=False),
        }

    def _draw_group(self, data: st.DataObject, kind: str, actor: int) -> Target:
        """An id for a list's or label's route: own, foreign, deleted, random, junk."""
        pick = data.draw(st.sampled_from(TARGET_KINDS), label=f"{kind} target")
        pools = self._pools(kind, actor)
        if pools.get(pick):
            group_id = data.draw(st.sampled_from(pools[pick]), label=pick)
            return Target(group_id, group_id, pick)
        if pick == "malformed":
            return Target(data.draw(MALFORMED_IDS, label="malformed"), None, pick)
        return Target(str(data.draw(st.uuids(), label="random")), None, "random")

    def _owned_group(self, kind: str, actor: int, target: Target) -> ModelGroup | None:
        group = self.groups[kind].get(target.task_id or "")
        return group if group and group.alive and group.owner == actor else None

    def _draw_reference(
        self, data: st.DataObject, kind: str, actor: int, *, nullable: bool
    ) -> tuple[str | None, bool]:
        """An id to put in a task's ``list`` or ``labels``, and whether it is valid."""
        kinds = REF_KINDS if nullable else [k for k in REF_KINDS if k != "none"]
        pick = data.draw(st.sampled_from(kinds), label=f"{kind} reference")
        pools = self._pools(kind, actor)
        if pick == "none":
            return None, True
        if pools.get(pick):
            return data.draw(st.sampled_from(pools[pick]), label=pick), pick == "own"
        return str(data.draw(st.uuids(), label="random")), False

    @rule(actor=ACTORS, kind=st.sampled_from(["list", "label"]))
    def create_group(self, actor: int, kind: str) -> None:
        self._begin(actor)
        self._create_group(actor, kind)

    def _create_group(self, actor: int, kind: str) -> None:
        name = f"{kind} {self._new_token()}"
        url = LISTS if kind == "list" else LABELS
        response = self._call(actor, "post", url, {"name": name})
        assert response.status_code == status.HTTP_201_CREATED, response.content
        body = response.json()
        assert body["name"] == name
        assert body["id"] not in self.groups[kind]
        self.groups[kind][body["id"]] = ModelGroup(body["id"], actor, name)

    @rule(actor=ACTORS, kind=st.sampled_from(["list", "label"]), data=st.data())
    def rename_group(self, actor: int, kind: str, data: st.DataObject) -> None:
        self._begin(actor)
        target = self._draw_group(data, kind, actor)
        group = self._owned_group(kind, actor, target)
        name = f"{kind} {self._new_token()}"
        url = reverse(f"todos:{kind}-detail", args=[target.raw])
        response = self._call(actor, "patch", url, {"name": name})
        if group is None:
            self._expect_404(response)
            return
        assert response.status_code == status.HTTP_200_OK, response.content
        assert response.json()["name"] == name
        group.name = name

    @rule(actor=ACTORS, kind=st.sampled_from(["list", "label"]), data=st.data())
    def delete_group(self, actor: int, kind: str, data: st.DataObject) -> None:
        self._begin(actor)
        target = self._draw_group(data, kind, actor)
        group = self._owned_group(kind, actor, target)
        url = reverse(f"todos:{kind}-detail", args=[target.raw])
        tasks = data.draw(st.sampled_from(["move_to_inbox", "delete"]), label="tasks")
        if kind == "list":
            url = f"{url}?tasks={tasks}"
        response = self._call(actor, "delete", url)
        if group is None:
            self._expect_404(response)
            return
        assert response.status_code == status.HTTP_204_NO_CONTENT, response.content
        group.alive = False
        affected = [
            t
            for t in self.tasks.values()
            if t.alive
            and (t.list == group.id if kind == "list" else group.id in t.labels)
        ]
        if kind == "list" and tasks == "delete":
            for task in affected:
                task.alive = False
            return
        # The tasks it held (carried) changed: versions one up, updated_at moved.
        stored = {
            str(pk): (version, updated)
            for pk, version, updated in Task.objects.filter(
                pk__in=[t.id for t in affected]
            ).values_list("pk", "version", "updated_at")
        }
        for task in affected:
            version, updated = stored[task.id]
            assert version == task.version + 1
            assert updated >= task.updated_at
            task.version, task.updated_at = version, updated
            if kind == "list":
                task.list = None
            else:
                task.labels = tuple(i for i in task.labels if i != group.id)

    @rule(actor=ACTORS, kind=st.sampled_from(["list", "label"]))
    def list_groups(self, actor: int, kind: str) -> None:
        """The collection is exactly the caller's own, lists in creation order."""
        self._begin(actor)
        response = self._call(actor, "get", LISTS if kind == "list" else LABELS)
        assert response.status_code == status.HTTP_200_OK, response.content
        got = [(item["id"], item["name"]) for item in response.json()]
        own = [
            (g.id, g.name)
            for g in self.groups[kind].values()
            if g.alive and g.owner == actor
        ]
        if kind == "list":
            assert got == own
        else:
            assert sorted(got) == sorted(own)

    @rule(actor=ACTORS, data=st.data())
    def assign(self, actor: int, data: st.DataObject) -> None:
        """Put a task into a list and give it labels, ids of anyone's included."""
        self._begin(actor)
        target = self._draw_target(data, actor)
        task = self._owned(actor, target)
        names = data.draw(
            st.sets(st.sampled_from(REFERENCES), min_size=1), label="references"
        )
        body: dict[str, Any] = {}
        want: dict[str, Any] = {}
        bad: set[str] = set()
        if "list" in names:
            ref, ok = self._draw_reference(data, "list", actor, nullable=True)
            body["list"] = want["list"] = ref
            bad |= set() if ok else {"list"}
        if "labels" in names:
            refs = []
            for _ in range(data.draw(st.integers(0, 3), label="how many labels")):
                ref, ok = self._draw_reference(data, "label", actor, nullable=False)
                refs.append(ref)
                bad |= set() if ok else {"labels"}
            body["labels"] = refs
            want["labels"] = tuple(sorted(set(refs)))
        url = reverse("todos:task-detail", args=[target.raw])
        response = self._call(actor, "patch", url, body)
        if task is None:
            self._expect_404(response)
        elif bad:
            assert response.status_code == status.HTTP_400_BAD_REQUEST, response.content
            fields = {e["field"] for e in response.json()["errors"]}
            assert fields == bad, response.content
        else:
            self._check_written(task, want, response)

    # --- lists -----------------------------------------------------------------------

    def _list_params(self, data: st.DataObject, *, filters: bool) -> dict[str, str]:
        params: dict[str, str] = {}
        names: set[str] = set()
        if filters:
            names = data.draw(
                st.sets(st.sampled_from(FILTERS), min_size=1, max_size=2),
                label="filters",
            )
        for name in sorted(names):
            if name in {"status", "priority"}:
                choices = STATUSES if name == "status" else PRIORITIES
                picked = data.draw(st.lists(st.sampled_from(choices), min_size=1))
                params[name] = ",".join(picked)
            elif name in {"overdue", "has_due"}:
                params[name] = data.draw(st.sampled_from(["true", "false"]))
            elif name == "search":
                tokens = sorted(t.token for t in self.tasks.values())
                options: list[st.SearchStrategy[str]] = [
                    # Blank searches are a 400 of their own, not a filter.
                    st.text(alphabet=string.ascii_letters + " _%\\", max_size=5).filter(
                        str.strip
                    )
                ]
                if tokens:
                    options.append(st.sampled_from(tokens))
                    options.append(st.sampled_from(tokens).map(lambda t: t[1:-1]))
                params[name] = data.draw(st.one_of(options), label="search")
            else:
                params[name] = self._draw_time(data)
        # The manual order (ordering=position, with list=) is not modelled here:
        # tests/todos/test_manual_order.py holds it.
        plain = sorted(o for o, key in ORDERINGS.items() if key.column != "position")
        ordering = data.draw(st.none() | st.sampled_from(plain))
        if ordering is not None:
            params["ordering"] = ordering
        size = data.draw(st.none() | st.integers(1, 6) | st.just(MAX_PAGE_SIZE))
        if size is not None:
            params["page_size"] = str(size)
        return params

    def _draw_time(self, data: st.DataObject) -> str:
        """A threshold at, just beside or far from a timestamp some task has."""
        pool: set[datetime.datetime] = {_NOW - 1000 * _DAY, _NOW + 1000 * _DAY}
        for task in self.tasks.values():
            pool |= {task.created_at, task.updated_at}
            if task.due_at is not None:
                pool.add(task.due_at)
        base = data.draw(st.sampled_from(sorted(pool)), label="around")
        shift = data.draw(st.sampled_from([0, 0, 1, -1, 1000, -1000]))
        when = base + datetime.timedelta(microseconds=shift)
        return when.astimezone(data.draw(st.sampled_from(OFFSETS))).isoformat()

    def _matches(self, task: ModelTask, params: dict[str, str]) -> bool:
        for name, value in params.items():
            if name in {"status", "priority"}:
                ok = getattr(task, name) in value.split(",")
            elif name == "overdue":
                due = task.due_at
                overdue = (
                    due is not None
                    and due < timezone.now()
                    and task.status != TaskStatus.COMPLETED
                )
                ok = overdue == (value == "true")
            elif name == "has_due":
                ok = (task.due_at is not None) == (value == "true")
            elif name == "search":
                needle = value.strip().lower()
                ok = needle in task.title.lower() or needle in task.description.lower()
            elif name in TIME_FILTERS:
                column, sign = TIME_FILTERS[name]
                mine = getattr(task, column)
                limit = datetime.datetime.fromisoformat(value)
                ok = mine is not None and (mine > limit if sign > 0 else mine < limit)
            else:
                ok = True  # ordering, page_size, cursor
            if not ok:
                return False
        return True

    def _in_order(self, ids: list[str], ordering: str) -> list[str]:
        """``ids`` sorted the way ``ordering`` promises (ties broken by id)."""
        key = ORDERINGS[ordering]
        if key.column == "title":
            # Text order is the database's collation; ask it.
            rows = Task.objects.filter(pk__in=ids).order_by(*key.order_by())
            return [str(pk) for pk in rows.values_list("pk", flat=True)]

        def sort_key(task_id: str) -> tuple[Any, ...]:
            task = self.tasks[task_id]
            value = getattr(task, key.column)
            if key.column == "priority":
                value = PRIORITY_BY_NAME[value]
            if key.nullable:
                # NULL sorts after every value ascending, before them descending.
                return (value is None, value or _NOW, uuid.UUID(task_id))
            return (value, uuid.UUID(task_id))

        ascending = sorted(ids, key=sort_key)
        return ascending[::-1] if key.descending else ascending

    def _get_page(self, actor: int, url: str) -> dict[str, Any]:
        response = self._call(actor, "get", url)
        assert response.status_code == status.HTTP_200_OK, response.content
        page: dict[str, Any] = response.json()
        for item in page["results"]:
            task = self.tasks.get(item["id"])
            assert task is not None, item
            assert task.alive
            assert task.owner == actor
            assert _as_values(item) == task.representation()
        return page

    @rule(actor=ACTORS, data=st.data(), back=st.booleans())
    def list_everything(self, actor: int, data: st.DataObject, back: bool) -> None:
        self._begin(actor)
        self._list(actor, self._list_params(data, filters=False), back)

    @rule(actor=ACTORS, data=st.data(), back=st.booleans())
    def list_filtered(self, actor: int, data: st.DataObject, back: bool) -> None:
        self._begin(actor)
        self._list(actor, self._list_params(data, filters=True), back)

    def _list(self, actor: int, params: dict[str, str], back: bool) -> None:
        """Walk every page; then, if ``back``, walk back again from the last."""
        size = int(params.get("page_size", PAGE_SIZE))
        limit = len(self.tasks) // size + 2
        page = self._get_page(actor, f"{LIST}?{urlencode(params)}")
        assert page["previous"] is None
        got = [item["id"] for item in page["results"]]
        while page["next"] is not None:
            assert len(page["results"]) == size
            if len(self.links) < 16:
                self.links.append(Link(page["next"], actor))
            page = self._get_page(actor, page["next"])
            got += [item["id"] for item in page["results"]]
            limit -= 1
            assert limit > 0, "the next links never end"
        assert len(page["results"]) <= size

        wanted = [
            t.id
            for t in self.tasks.values()
            if t.alive and t.owner == actor and self._matches(t, params)
        ]
        assert len(got) == len(set(got)), "a task was listed twice"
        assert set(got) == set(wanted)
        assert got == self._in_order(got, params.get("ordering", "-created_at"))

        if back:
            walked = [item["id"] for item in page["results"]]
            limit = len(self.tasks) // size + 2
            while page["previous"] is not None:
                page = self._get_page(actor, page["previous"])
                walked = [item["id"] for item in page["results"]] + walked
                limit -= 1
                assert limit > 0, "the previous links never end"
            assert walked == got

    @precondition(lambda self: bool(self.links))
    @rule(actor=ACTORS, data=st.data())
    def replay_a_cursor(self, actor: int, data: st.DataObject) -> None:
        """A ``next`` link, possibly another user's, pages only the caller's tasks.

        Refusing another user's cursor outright (400 on ``cursor``) is as good.
        """
        self._begin(actor)
        link = data.draw(st.sampled_from(self.links), label="link")
        if link.owner != actor:
            response = self._call(actor, "get", link.url)
            if response.status_code == status.HTTP_400_BAD_REQUEST:
                fields = [e["field"] for e in response.json()["errors"]]
                assert fields == ["cursor"], response.content
                return
        page = self._get_page(actor, link.url)
        got = [item["id"] for item in page["results"]]
        query = {k: v[-1] for k, v in parse_qs(urlparse(link.url).query).items()}
        assert all(self._matches(self.tasks[i], query) for i in got)
        assert got == self._in_order(got, query.get("ordering", "-created_at"))

    # --- invariants ------------------------------------------------------------------

    @staticmethod
    def _rows() -> dict[str, tuple[Any, ...]]:
        labels: dict[str, list[str]] = {}
        for task_id, label_id in TaskLabel.objects.values_list("task_id", "label_id"):
            labels.setdefault(str(task_id), []).append(str(label_id))
        rows = Task.objects.values_list(
            "id",
            "owner_id",
            "title",
            "description",
            "status",
            "priority",
            "due_at",
            "completed_at",
            "created_at",
            "updated_at",
            "version",
            "list_id",
        )
        return {
            str(row[0]): (
                str(row[0]),
                *row[1:-1],
                None if row[-1] is None else str(row[-1]),
                tuple(sorted(labels.get(str(row[0]), []))),
            )
            for row in rows
        }

    @invariant()
    def no_other_users_row_changed_and_the_database_is_the_model(self) -> None:
        self._check_database()

    def _check_database(self) -> None:
        rows = self._rows()
        acting = None if self.actor is None else self.users[self.actor].pk
        for task_id, before in self.snapshot.items():
            if before[1] != acting:
                assert rows.get(task_id) == before, (
                    f"a step by user {self.actor} changed another user's task {task_id}"
                )
        for task_id, row in rows.items():
            if task_id not in self.snapshot:
                assert row[1] == acting, f"a new task {task_id} has the wrong owner"
        alive = {t.id: t for t in self.tasks.values() if t.alive}
        assert set(rows) == set(alive)
        for task_id, row in rows.items():
            task = alive[task_id]
            assert row == (
                task.id,
                self.users[task.owner].pk,
                task.title,
                task.description,
                task.status,
                PRIORITY_BY_NAME[task.priority],
                task.due_at,
                task.completed_at,
                task.created_at,
                task.updated_at,
                task.version,
                task.list,
                tuple(sorted(task.labels)),
            )
        for kind, model in (("list", TaskList), ("label", Label)):
            stored = {
                str(pk): (owner, name)
                for pk, owner, name in model.objects.values_list("pk", "owner", "name")
            }
            assert stored == {
                g.id: (self.users[g.owner].pk, g.name)
                for g in self.groups[kind].values()
                if g.alive
            }
        # Said by the model check above too; this is the property itself.
        assert (
            not Task.objects.exclude(list__owner=F("owner"))
            .exclude(list__isnull=True)
            .exists()
        )
        assert not TaskLabel.objects.exclude(label__owner=F("task__owner")).exists()
        self.snapshot = rows


@pytest.mark.django_db(transaction=True)
def test_users_stay_isolated_under_random_request_sequences(
    capsys: pytest.CaptureFixture[str],
) -> None:
    TaskIsolationMachine.steps = 0
    run_state_machine_as_test(TaskIsolationMachine, settings=MACHINE_SETTINGS)
    while STRESS and TaskIsolationMachine.steps < STRESS_STEPS:
        run_state_machine_as_test(TaskIsolationMachine, settings=MACHINE_SETTINGS)
    assert TaskIsolationMachine.steps > 0
    if STRESS:
        with capsys.disabled():
            print(f"\nisolation state machine: {TaskIsolationMachine.steps} steps")


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite keeps datetimes as text"
)
def test_a_task_the_database_stamps_at_a_whole_second_is_listed_once() -> None:
    """One task in a thousand is stamped at .000 ms; it must not repeat or leak in.

    SQLite compares the text, and the database wrote ``...:05.000000`` where Django
    writes ``...:05``: the ``next`` link after such a task led back to it, forever.
    """
    user = UserFactory.create()
    tasks = TaskFactory.create_batch(3, owner=user)
    now_sql, _ = DatabaseNow().as_sqlite(None, connection)
    instants = [
        "2030-01-01 00:00:04.500",
        "2030-01-01 00:00:05",
        "2030-01-01 00:00:05.500",
    ]
    with connection.cursor() as cursor:
        for task, instant in zip(tasks, instants, strict=True):
            stamp = now_sql.replace("'NOW'", f"'{instant}'")
            cursor.execute(
                f"UPDATE todos_task SET created_at = ({stamp}) WHERE id = %s",
                [task.pk.hex],
            )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")

    listed: list[str] = []
    url: str | None = f"{LIST}?ordering=created_at&page_size=1"
    while url is not None and len(listed) <= len(tasks):
        response = client.get(url)
        assert response.status_code == status.HTTP_200_OK, response.content
        page = response.json()
        listed += [item["id"] for item in page["results"]]
        url = page["next"]
    after = client.get(LIST, {"created_after": "2030-01-01T00:00:05Z"}).json()

    assert listed == [str(task.pk) for task in tasks]
    assert [item["id"] for item in after["results"]] == [str(tasks[2].pk)]
