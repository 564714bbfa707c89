"""Admin for tasks, lists and labels: owner autocomplete, filters, no N+1.

The admin writes through the ORM, past the API's validation: each form checks that a
task's list and labels are its owner's (PostgreSQL would refuse them anyway), and a
list with tasks is not deleted here, since only the API says what becomes of them.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from todos import services
from todos.models import (
    TASK_FIELDS,
    TASK_READ_ONLY_FIELDS,
    Label,
    Task,
    TaskLabel,
    TaskList,
)


class TaskAdminForm(forms.ModelForm[Task]):
    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        owner, task_list = data.get("owner"), data.get("list")
        if owner and task_list and task_list.owner_id != owner.pk:
            self.add_error("list", "This list belongs to another user.")
        return data


class TaskLabelInlineForm(forms.ModelForm[TaskLabel]):
    owner_id: Any = None  # the task's owner, set by TaskLabelInline's formset

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        label, owner_id = data.get("label"), self.owner_id
        if label is not None and owner_id is not None and label.owner_id != owner_id:
            self.add_error("label", "This label belongs to another user.")
        return data


class TaskLabelInline(admin.TabularInline[TaskLabel, Task]):
    model = TaskLabel
    form = TaskLabelInlineForm
    fields = ("label",)
    autocomplete_fields = ("label",)
    extra = 0

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        owner_id = getattr(obj, "owner_id", None)

        class OwnedFormSet(formset):  # type: ignore[misc,valid-type]
            def _construct_form(self, i: int, **form_kwargs: Any) -> Any:
                form = super()._construct_form(i, **form_kwargs)
                form.owner_id = owner_id
                return form

        return OwnedFormSet


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin[Task]):
    form = TaskAdminForm
    list_display = (
        "title",
        "owner",
        "list",
        "status",
        "priority",
        "due_at",
        "updated_at",
    )
    list_filter = ("status", "priority", "due_at")
    list_select_related = ("owner", "list")
    search_fields = ("title", "owner__email", "list__name")
    autocomplete_fields = ("owner", "list")
    readonly_fields = (*TASK_READ_ONLY_FIELDS, "version")
    # The API's fields, the owner after the id, and the version last; the labels
    # (links of their own) in the inline below.
    fields = (
        TASK_FIELDS[0],
        "owner",
        *(name for name in TASK_FIELDS[1:] if name != "labels"),
        "version",
    )
    inlines = (TaskLabelInline,)
    show_full_result_count = False
    actions = ("mark_completed", "reopen")

    def save_formset(
        self, request: HttpRequest, form: Any, formset: Any, change: bool
    ) -> None:
        """A label link's owner is its task's: the admin never asks for it."""
        for link in formset.save(commit=False):
            link.owner_id = form.instance.owner_id
            link.save()
        for gone in formset.deleted_objects:
            gone.delete()
        if formset.deleted_objects or formset.new_objects:
            # The task's representation changed: so must its version.
            Task.objects.filter(pk=form.instance.pk).update()

    @admin.action(description="Mark selected tasks as completed")
    def mark_completed(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        count = services.tasks_complete(tasks=queryset)
        self.message_user(
            request, f"{count} task(s) marked completed.", messages.SUCCESS
        )

    @admin.action(description="Reopen selected tasks")
    def reopen(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        count = services.tasks_reopen(tasks=queryset)
        self.message_user(request, f"{count} task(s) reopened.", messages.SUCCESS)


class _NamedAdmin(admin.ModelAdmin[Any]):
    """Lists and labels: searchable by name and owner, task counts in one query."""

    list_filter = ("color",)
    list_select_related = ("owner",)
    search_fields = ("name", "owner__email")
    autocomplete_fields = ("owner",)
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).annotate(task_count=Count("tasks"))

    @admin.display(description="Tasks", ordering="task_count")
    def task_count(self, obj: Any) -> int:
        return int(obj.task_count)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The owner is chosen once: moving a list or label to another user would
        # leave its tasks (the owner's) pointing across users.
        fixed = ("owner",) if obj is not None else ()
        return (*self.readonly_fields, *fixed)


@admin.register(TaskList)
class TaskListAdmin(_NamedAdmin):
    list_display = ("name", "owner", "color", "position", "task_count", "updated_at")
    fields = ("id", "owner", "name", "color", "position", "created_at", "updated_at")
    readonly_fields = ("id", "position", "created_at", "updated_at", "version")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Only an empty list: the API's delete says what becomes of the tasks."""
        if obj is not None and obj.tasks.exists():
            return False
        return super().has_delete_permission(request, obj)

    def save_model(
        self, request: HttpRequest, obj: Any, form: Any, change: bool
    ) -> None:
        if not change:
            obj.position = services.next_list_position(owner=obj.owner)
        super().save_model(request, obj, form, change)


@admin.register(Label)
class LabelAdmin(_NamedAdmin):
    list_display = ("name", "owner", "color", "task_count", "updated_at")
    readonly_fields = ("id", "created_at", "updated_at", "version")
    fields = ("id", "owner", "name", "color", "created_at", "updated_at")
