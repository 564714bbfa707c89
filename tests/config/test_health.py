"""Health probes, and what API callers see while the database is unreachable."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", refuse)


def test_healthz_answers_without_touching_the_database(
    client: Client, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_while_the_database_is_down(client: Client, database_down):
    assert client.get("/healthz").status_code == 200


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


def test_api_requests_get_503_with_retry_after_while_the_database_is_down(
    auth_client, database_down
):
    response = auth_client.get("/api/v1/tasks/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "The database is unavailable; retry shortly."
