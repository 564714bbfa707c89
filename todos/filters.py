"""Query parameters of the task list. Anything invalid is a 400 naming the parameter."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from todos.models import Task, TaskPriority, TaskStatus

PRIORITY_BY_NAME = {p.name.lower(): int(p.value) for p in TaskPriority}
SEARCH_MAX_LENGTH = 200


class CommaSeparatedChoiceField(forms.CharField):
    """``a,b,c`` where every item is one of ``choices``; cleans to a list."""

    def __init__(self, *, allowed: list[str], **kwargs: Any) -> None:
        self.allowed = allowed
        super().__init__(**kwargs)

    def clean(self, value: Any) -> list[str] | None:
        value = super().clean(value)
        if not value:
            return None
        items = [item.strip() for item in value.split(",") if item.strip()]
        bad = [item for item in items if item not in self.allowed]
        if bad or not items:
            raise forms.ValidationError(
                f"{', '.join(repr(b) for b in bad) or 'nothing'} is not valid; "
                f"choose from {', '.join(self.allowed)}.",
                code="invalid_choice",
            )
        return items


@extend_schema_field({"type": "string", "pattern": r"^[a-z_]+(,[a-z_]+)*$"})
class CommaSeparatedChoiceFilter(django_filters.Filter):
    field_class = CommaSeparatedChoiceField

    def __init__(self, *args: Any, mapping: dict[str, Any], **kwargs: Any) -> None:
        self.mapping = mapping
        kwargs.setdefault("lookup_expr", "in")
        kwargs["allowed"] = list(mapping)
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet[Any], value: list[str] | None) -> QuerySet[Any]:
        if not value:
            return qs
        return super().filter(qs, [self.mapping[item] for item in value])


class StrictBooleanField(forms.TypedChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("choices", None)
        super().__init__(
            choices=[("true", "true"), ("false", "false")],
            coerce=lambda v: v == "true",
            empty_value=None,
            **kwargs,
        )


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.Filter):
    """Only ``true`` or ``false``; anything else is an error, not "no filter"."""

    field_class = StrictBooleanField


class TaskFilter(django_filters.FilterSet):
    status = CommaSeparatedChoiceFilter(
        field_name="status",
        mapping={s.value: s.value for s in TaskStatus},
        help_text="Comma-separated statuses: pending, in_progress, completed.",
    )
    priority = CommaSeparatedChoiceFilter(
        field_name="priority",
        mapping=PRIORITY_BY_NAME,
        help_text="Comma-separated priorities: low, normal, high, urgent.",
    )
    due_before = django_filters.IsoDateTimeFilter(
        field_name="due_at", lookup_expr="lt", help_text="Due strictly before."
    )
    due_after = django_filters.IsoDateTimeFilter(
        field_name="due_at", lookup_expr="gt", help_text="Due strictly after."
    )
    overdue = StrictBooleanFilter(
        method="filter_overdue",
        help_text="true: due in the past and not completed; false: the others.",
    )
    has_due = StrictBooleanFilter(
        field_name="due_at",
        lookup_expr="isnull",
        exclude=True,
        help_text="true: tasks with a due date; false: tasks without.",
    )
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gt"
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt"
    )
    updated_after = django_filters.IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gt", help_text="Changed strictly after."
    )
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=SEARCH_MAX_LENGTH,
        help_text="Case-insensitive substring of the title or the description.",
    )

    class Meta:
        model = Task
        fields: list[str] = []

    def filter_overdue(
        self, queryset: QuerySet[Task], name: str, value: bool | None
    ) -> QuerySet[Task]:
        if value is None:
            return queryset
        overdue = Q(due_at__lt=timezone.now()) & ~Q(status=TaskStatus.COMPLETED)
        return queryset.filter(overdue if value else ~overdue)

    def filter_search(
        self, queryset: QuerySet[Task], name: str, value: str
    ) -> QuerySet[Task]:
        if not value:
            return queryset
        return queryset.filter(
            Q(title__icontains=value) | Q(description__icontains=value)
        )


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter, refusing query parameters that nothing reads.

    A misspelt ``?stauts=done`` must not silently list everything. The view names
    the parameters its paginator reads in ``extra_query_params``.
    """

    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any], view: Any
    ) -> QuerySet[Any]:
        filterset_class = self.get_filterset_class(view, queryset)
        known = set(filterset_class.base_filters) if filterset_class else set()
        known |= set(getattr(view, "extra_query_params", ()))
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise ValidationError(
                {name: ["Unknown query parameter."] for name in unknown},
                code="unknown_parameter",
            )
        return super().filter_queryset(request, queryset, view)
