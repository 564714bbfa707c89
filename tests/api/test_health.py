"""Health probes, and how they answer while the database is unreachable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import OperationalError, connection
from django.test import Client

from tests.support.database import unreachable_database

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_down() -> Iterator[None]:
    with unreachable_database():
        yield


def test_healthz_answers_without_touching_the_database(
    client: Client, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_while_the_database_is_down(client: Client, database_down):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_makes_one_round_trip(client: Client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_readyz_is_503_while_the_database_is_down(client: Client, database_down):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:taskapi:problem:service-unavailable",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "The database is unavailable.",
    }


def test_the_outage_helper_makes_every_statement_fail(database_down):
    with pytest.raises(OperationalError), connection.cursor():
        pass
