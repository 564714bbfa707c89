"""Fixtures of the adversarial suites."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.routes import World, make_world


@pytest.fixture
def world(db: None, better_auth: Any) -> World:
    """The world the route table's rows were written for, Better Auth on."""
    return make_world(better_auth)
