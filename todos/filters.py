"""Query parameters of the task list. Anything invalid is a 400 naming the parameter."""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from api.middleware import release_with_view
from api.schema import DATE_TIME_RANGE, NOT_BLANK_TEXT_PATTERN, WHITESPACE
from api.serializers import RFC3339_MESSAGE, rfc3339_text
from todos.models import (
    PRIORITY_BY_NAME,
    Task,
    TaskLabel,
    TaskQuerySet,
    TaskStatus,
)

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
            # The input travels in params: django-filter %-formats the message, so
            # a "%" typed into it must not be part of the message itself.
            raise forms.ValidationError(
                "%(bad)s is not valid; choose from %(allowed)s.",
                code="invalid_choice",
                params={
                    "bad": ", ".join(repr(b) for b in bad) or "nothing",
                    "allowed": ", ".join(self.allowed),
                },
            )
        return items


class CommaSeparatedChoiceFilter(django_filters.Filter):
    field_class = CommaSeparatedChoiceField

    def __init__(self, *args: Any, mapping: dict[str, Any], **kwargs: Any) -> None:
        self.mapping = mapping
        kwargs.setdefault("lookup_expr", "in")
        kwargs["allowed"] = list(mapping)
        super().__init__(*args, **kwargs)
        # OpenAPI: exactly the values this filter accepts, not any lowercase word:
        # items around commas, each trimmed, blank ones skipped, at least one left.
        item = "(" + "|".join(re.escape(name) for name in mapping) + ")"
        blank = f"[{WHITESPACE}]*"
        pattern = rf"^({blank},)*{blank}{item}{blank}(,{blank}({item}{blank})?)*$"
        extend_schema_field({"type": "string", "pattern": pattern})(self)

    def filter(self, qs: QuerySet[Any], value: list[str] | None) -> QuerySet[Any]:
        if not value:
            return qs
        return super().filter(qs, [self.mapping[item] for item in value])


MAX_LABEL_FILTER_IDS = 20
INBOX = "inbox"


class CommaSeparatedUUIDField(forms.CharField):
    """``id,id,...`` (at most ``MAX_LABEL_FILTER_IDS``); cleans to a list of UUIDs."""

    def clean(self, value: Any) -> list[uuid.UUID] | None:
        value = super().clean(value)
        if not value:
            return None
        items = [item.strip() for item in value.split(",") if item.strip()]
        if not items or len(items) > MAX_LABEL_FILTER_IDS:
            raise forms.ValidationError(
                f"Give 1 to {MAX_LABEL_FILTER_IDS} comma-separated label ids.",
                code="invalid",
            )
        try:
            return list(dict.fromkeys(uuid.UUID(item) for item in items))
        except ValueError:
            raise forms.ValidationError(
                "Every item must be a label id (a UUID).", code="invalid"
            ) from None


class ListOrInboxField(forms.CharField):
    """A list id, or ``inbox`` for the tasks in no list."""

    def clean(self, value: Any) -> uuid.UUID | str | None:
        value = super().clean(value)
        if not value:
            return None
        if value == INBOX:
            return INBOX
        try:
            return uuid.UUID(value)
        except ValueError:
            raise forms.ValidationError(
                "Must be a list id (a UUID) or 'inbox'.", code="invalid"
            ) from None


_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


@extend_schema_field({"type": "string", "pattern": rf"^(inbox|{_UUID})$"})
class ListFilter(django_filters.Filter):
    field_class = ListOrInboxField

    def filter(self, qs: QuerySet[Any], value: Any) -> QuerySet[Any]:
        if value is None:
            return qs
        if value == INBOX:
            return qs.filter(list__isnull=True)
        return qs.filter(list_id=value)


@extend_schema_field(
    {
        "type": "string",
        "pattern": rf"^{_UUID}(,{_UUID}){{0,{MAX_LABEL_FILTER_IDS - 1}}}$",
    }
)
class LabelFilter(django_filters.Filter):
    """Tasks with any (``every=False``) or all (``every=True``) of the labels."""

    field_class = CommaSeparatedUUIDField

    def __init__(self, *args: Any, every: bool, **kwargs: Any) -> None:
        self.every = every
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet[Any], value: list[uuid.UUID] | None) -> QuerySet[Any]:
        if not value:
            return qs
        # EXISTS rather than a join: a task with two of the labels is listed once.
        links = TaskLabel.objects.filter(task=OuterRef("pk"))
        if not self.every:
            return qs.filter(Exists(links.filter(label_id__in=value)))
        for label_id in value:
            qs = qs.filter(Exists(links.filter(label_id=label_id)))
        return qs


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


class UTCDateTimeField(IsoDateTimeField):
    """An RFC 3339 date-time, converted to UTC before it reaches a query.

    Python takes UTC offsets up to ±23:59, PostgreSQL only up to ±15:59; and near
    the ends of years 1 and 9999 an offset pushes the instant out of range, which is
    a 400 here as in a task's own ``due_at``.
    """

    def to_python(self, value: Any) -> datetime.datetime | None:
        if isinstance(value, str) and value:
            text = rfc3339_text(value)
            if text is None:
                raise forms.ValidationError(RFC3339_MESSAGE, code="invalid")
            value = text
        result = super().to_python(value)
        if result is None:
            return None
        try:
            return result.astimezone(datetime.UTC)
        except OverflowError:
            raise forms.ValidationError(
                "Datetime value out of range.", code="overflow"
            ) from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField

    def __init__(self, *args: Any, help_text: str = "", **kwargs: Any) -> None:
        help_text = " ".join(filter(None, [help_text, DATE_TIME_RANGE]))
        super().__init__(*args, help_text=help_text, **kwargs)


class TaskFilter(django_filters.FilterSet):
    status = CommaSeparatedChoiceFilter(
        field_name="status",
        mapping={s.value: s.value for s in TaskStatus},
        help_text=f"Comma-separated statuses: {', '.join(TaskStatus.values)}.",
    )
    priority = CommaSeparatedChoiceFilter(
        field_name="priority",
        mapping=PRIORITY_BY_NAME,
        help_text=f"Comma-separated priorities: {', '.join(PRIORITY_BY_NAME)}.",
    )
    due_before = UTCDateTimeFilter(
        field_name="due_at", lookup_expr="lt", help_text="Due strictly before."
    )
    due_after = UTCDateTimeFilter(
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
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gt")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = UTCDateTimeFilter(
        field_name="updated_at", lookup_expr="gt", help_text="Changed strictly after."
    )
    list = ListFilter(help_text="A list's id: its tasks; inbox: tasks in no list.")
    label = LabelFilter(every=False, help_text="Tasks with any of these labels.")
    label_all = LabelFilter(every=True, help_text="Tasks with all of these labels.")
    search = extend_schema_field(
        {
            "type": "string",
            "maxLength": SEARCH_MAX_LENGTH,
            "pattern": NOT_BLANK_TEXT_PATTERN,
        }
    )(
        django_filters.CharFilter(
            method="filter_search",
            max_length=SEARCH_MAX_LENGTH,
            help_text="Case-insensitive substring of the title or the description.",
        )
    )

    class Meta:
        model = Task
        fields: list[str] = []

    def filter_overdue(
        self, queryset: TaskQuerySet, name: str, value: bool | None
    ) -> TaskQuerySet:
        if value is None:
            return queryset
        return queryset.overdue() if value else queryset.not_overdue()

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

    A misspelt ``?stauts=done`` must not silently list everything, and neither
    must an empty ``?due_before=`` (django-filter reads a blank value as no
    filter). The view names the parameters its paginator reads in
    ``extra_query_params``.
    """

    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any], view: Any
    ) -> QuerySet[Any]:
        if not request.query_params:
            # Nothing unknown, nothing blank, nothing to filter by: a task read by
            # its id (get_object() filters too) and every first page.
            return queryset
        filterset_class = self.get_filterset_class(view, queryset)
        filters = set(filterset_class.base_filters) if filterset_class else set()
        known = filters | set(getattr(view, "extra_query_params", ()))
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise ValidationError(
                {name: ["Unknown query parameter."] for name in unknown},
                code="unknown_parameter",
            )
        blank = sorted(
            name
            for name in filters & set(request.query_params)
            if not request.query_params[name].strip()
        )
        if blank:
            raise ValidationError(
                {name: ["This parameter may not be blank."] for name in blank},
                code="blank",
            )
        if not filters & set(request.query_params):
            # Nothing to filter by: skip building the FilterSet and its form, which
            # deep-copies every filter on each request (a tenth of a plain list's CPU).
            return queryset
        return super().filter_queryset(request, queryset, view)

    def get_filterset(
        self, request: Request, queryset: QuerySet[Any], view: Any
    ) -> django_filters.FilterSet | None:
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            # Its filters and its form's fields point back at them: both are
            # cleared with the view (api.middleware.ReleaseRequestMiddleware).
            release_with_view(view, filterset.form)
            release_with_view(view, filterset)
        return filterset
