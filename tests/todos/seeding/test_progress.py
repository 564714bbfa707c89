"""The progress of a load: a line per tenth, or one line redrawn on a terminal."""

from __future__ import annotations

import io

import pytest
from django.core.management.base import OutputWrapper

from tests.support.seeding import run_seed
from todos.seeding import Progress

pytestmark = pytest.mark.django_db


def test_progress_is_a_line_per_tenth_on_stderr_when_not_a_terminal():
    _, err = run_seed(users=2, tasks_per_user=100, batch_size=20, quiet=False)

    lines = err.splitlines()
    assert [line.split("%")[0].split()[-1] for line in lines] == [
        str(p) for p in range(10, 101, 10)
    ]
    assert lines[-1].startswith("tasks 100%  200/200")
    assert lines[-1].endswith("rows/s")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_line_in_place_on_a_terminal():
    terminal = _Terminal()
    stderr = OutputWrapper(terminal)
    stderr.style_func = lambda text: f"<error>{text}</error>"  # as BaseCommand does
    progress = Progress(stderr, total=4)
    for done in range(1, 5):
        progress.update(done)
    progress.finish()

    text = terminal.getvalue()
    assert text.count("\r") == 4
    assert text.count("\n") == 1
    assert text.endswith("\n")
    assert "\rtasks 100%  4/4" in text
    assert "<error>" not in text
