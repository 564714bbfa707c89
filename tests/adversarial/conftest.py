"""Fixtures of the adversarial suites."""

from __future__ import annotations

import pytest

from tests.support.routes import World, make_world


@pytest.fixture
def world(db: None) -> World:
    """The world the route table's rows were written for."""
    return make_world()
