"""Concurrent first requests of one Better Auth user make exactly one local user."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from accounts.models import User
from betterauth.identities import identity_user
from betterauth.models import ExternalIdentity
from betterauth.verifier import Claims

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres(reason="SQLite serialises writers: no race to lose"),
]


def test_eight_concurrent_first_requests_make_one_user():
    claims = Claims(subject="racer", payload={"sub": "racer", "name": "R"})
    barrier = threading.Barrier(8)
    results: list[object] = []
    errors: list[BaseException] = []

    def first_request() -> None:
        try:
            barrier.wait()
            results.append(identity_user(claims=claims).pk)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=first_request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(results)) == 1
    assert ExternalIdentity.objects.count() == 1
    assert User.objects.count() == 1
