"""Admin for tasks: owner autocomplete, filters, and completion actions."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from todos import services
from todos.models import TASK_FIELDS, TASK_READ_ONLY_FIELDS, Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin[Task]):
    list_display = ("title", "owner", "status", "priority", "due_at", "updated_at")
    list_filter = ("status", "priority", "due_at")
    list_select_related = ("owner",)
    search_fields = ("title", "owner__email")
    autocomplete_fields = ("owner",)
    readonly_fields = (*TASK_READ_ONLY_FIELDS, "version")
    # The API's fields, the owner after the id, and the version last.
    fields = (TASK_FIELDS[0], "owner", *TASK_FIELDS[1:], "version")
    show_full_result_count = False
    actions = ("mark_completed", "reopen")

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
