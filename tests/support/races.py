"""Running requests at the same instant from several threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection


def race(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, all released at once by a barrier.

    Each thread connects to the database before the barrier, so that connecting
    (a TLS handshake, a pooler's queue) does not stagger the start, and closes its
    connection when done. One connection per call is open at the peak: keep the
    number of calls well below the server's max_connections.
    """
    barrier = threading.Barrier(len(calls), timeout=60)

    def run(call: Callable[[], Any]) -> Any:
        try:
            try:
                connection.ensure_connection()
            except Exception:
                barrier.abort()  # the others fail at once instead of timing out
                raise
            barrier.wait()
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(run, call) for call in calls]
        return [future.result(timeout=120) for future in futures]
