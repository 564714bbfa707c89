"""StrictInputMixin: the input rules every API serializer shares."""

from __future__ import annotations

import datetime

import pytest
from rest_framework import serializers

from api.serializers import RFC3339_MESSAGE, StrictSerializer


class Stamped(StrictSerializer):
    at = serializers.DateTimeField()
    seen = serializers.DateTimeField(read_only=True)


@pytest.mark.parametrize(
    "value",
    [
        "2030-01-31T17:00:00Z",
        "2030-01-31t17:00:00z",
        "2030-01-31T17:00:00.123456789+05:30",
        "2030-01-31T17:00:00-00:00",
    ],
)
def test_a_date_time_in_rfc_3339_is_taken(value):
    serializer = Stamped(data={"at": value})
    assert serializer.is_valid(), serializer.errors
    assert isinstance(serializer.validated_data["at"], datetime.datetime)


@pytest.mark.parametrize(
    "value",
    [
        "2030-01-31",
        "2030-01-31T17:00",
        "2030-01-31T17:00:00",
        "2030-01-31 17:00:00Z",
        "20300131T170000Z",
        "2030-01-31T17:00:00,5Z",
        "2030-01-31T17:00:00+0530",
        "\u0662030-01-31T17:00:00Z",
    ],
)
def test_other_iso_8601_forms_are_refused(value):
    serializer = Stamped(data={"at": value})
    assert not serializer.is_valid()
    assert serializer.errors == {"at": [RFC3339_MESSAGE]}
    assert serializer.errors["at"][0].code == "invalid"


def test_a_read_only_date_time_is_ignored_whatever_its_form():
    serializer = Stamped(data={"at": "2030-01-31T17:00:00Z", "seen": "yesterday"})
    assert serializer.is_valid(), serializer.errors
    assert "seen" not in serializer.validated_data
