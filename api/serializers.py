"""Serializer behaviour shared by every API input."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

# An error names at most this many unknown keys (the first ones, sorted).
MAX_UNKNOWN_NAMED = 20

# RFC 3339's date-time (section 5.6), which OpenAPI's "date-time" format means.
# Python's ISO 8601 parsing would also take a date alone, no seconds, no offset
# (read in the server's zone) or a space for the "T".
RFC3339_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
RFC3339_MESSAGE = "Not an RFC 3339 date-time, such as 2030-01-31T17:00:00Z."


def rfc3339_text(value: str) -> str | None:
    """``value`` as Python parses it if it is an RFC 3339 date-time, else ``None``.

    RFC 3339 allows a lower-case "t" and "z", which Django's parser does not.
    """
    return value.upper() if RFC3339_DATE_TIME.fullmatch(value) else None


class StrictInputMixin:
    """Refuse request bodies that are not objects or that carry unknown keys.

    A typo such as ``due_date`` must not be ignored silently. Read-only fields of
    the representation are known, so echoing a resource back is allowed; they are
    simply not written. A text field takes a JSON string only: DRF would turn
    ``0`` or ``1.5`` into ``"0"`` and ``"1.5"``. A date-time is RFC 3339 text, as
    the schema says, not whatever else Python's ISO 8601 parsing takes.
    """

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            fields = self.fields  # type: ignore[attr-defined]
            unknown = sorted(str(key) for key in data if key not in fields)
            if unknown:
                # Name a few: a 1 MiB body of tiny keys must not buy a response
                # several times its size.
                raise ValidationError(
                    {key: ["Unknown field."] for key in unknown[:MAX_UNKNOWN_NAMED]},
                    code="unknown_field",
                )
            not_text = sorted(
                key
                for key, value in data.items()
                if isinstance(fields[key], serializers.CharField)
                and not fields[key].read_only
                and not isinstance(value, str | None)
            )
            if not_text:
                raise ValidationError(
                    {key: ["Not a valid string."] for key in not_text}, code="invalid"
                )
            stamps = {
                key: rfc3339_text(value)
                for key, value in data.items()
                if isinstance(fields[key], serializers.DateTimeField)
                and not fields[key].read_only
                and isinstance(value, str)
            }
            not_rfc3339 = sorted(key for key, value in stamps.items() if value is None)
            if not_rfc3339:
                raise ValidationError(
                    {key: [RFC3339_MESSAGE] for key in not_rfc3339}, code="invalid"
                )
            if stamps:
                data = {**data, **stamps}
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictSerializer(StrictInputMixin, serializers.Serializer[Any]):
    """A plain serializer that refuses unknown keys."""


class NewPasswordField(serializers.CharField):
    """A password being chosen, kept exactly as typed (no trimming).

    The serializer runs Django's ``validate_password`` on it with the user it is
    for (the similarity rule needs the user); the OpenAPI schema states the rules of
    ``AUTH_PASSWORD_VALIDATORS`` for this field (see ``api.schema``).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)


class NoInputSerializer(StrictSerializer):
    """The input of an action that takes none: no body, or ``{}``; any key is a 400."""
