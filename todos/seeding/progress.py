"""How far a seed run's load has got: a percentage and a rate, on stderr."""

from __future__ import annotations

import time

from django.core.management.base import OutputWrapper


class Progress:
    """Percentage and rate of the rows written so far, on ``out`` (``None``: silent).

    On a terminal the line is redrawn in place; otherwise, as in CI logs, a line is
    written each time another tenth of ``total`` is done.
    """

    def __init__(self, out: OutputWrapper | None, total: int) -> None:
        self.out = out
        self.total = total
        self.tty = out is not None and out.isatty()
        self.started = time.perf_counter()
        self._last_tenth = 0
        self._width = 0

    def update(self, done: int) -> None:
        if self.out is None or self.total == 0:
            return
        tenth = done * 10 // self.total
        if not self.tty and tenth == self._last_tenth:
            return
        self._last_tenth = tenth
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        text = (
            f"tasks {done * 100 // self.total:3d}%  {done:,}/{self.total:,}"
            f"  {done / elapsed:,.0f} rows/s"
        )
        if self.tty:
            # Padded so that a shorter line fully covers the one before it.
            self._width = max(self._width, len(text))
            self.out.write(f"\r{text:<{self._width}}", style_func=_plain, ending="")
        else:
            self.out.write(text, style_func=_plain)
        self.out.flush()

    def finish(self) -> None:
        """End the redrawn line so that later output starts on a line of its own."""
        if self.out is not None and self.tty and self.total:
            self.out.write("", style_func=_plain)


def _plain(text: str) -> str:
    # BaseCommand styles its stderr as errors (red on a terminal); progress is not.
    return text
