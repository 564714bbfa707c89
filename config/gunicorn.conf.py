"""gunicorn settings for `make serve`; every knob comes from the environment.

WEB_CONCURRENCY worker processes (default: one per core), each with GUNICORN_THREADS
threads (default 1: the sync worker; the gthread worker when above 1). Each thread
holds at most one database connection, so workers x threads is the most connections
one instance opens.

Sync workers were measured fastest here (docs/performance.md): no thread switching
and no contention for the GIL. One per core was measured ahead of gunicorn's usual
2 per core + 1 beside a close database: fewer processes taking turns on the cores
leave each one's caches warmer, and a request costs less CPU. A worker waits out
each round trip, so with a distant database (milliseconds or more, as from another
region) raise WEB_CONCURRENCY or use threads. A sync worker reads a request and
writes its answer itself: put a buffering proxy in front (every platform's router
is one), as gunicorn advises.
"""

import importlib
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
worker_class = os.environ.get(
    "GUNICORN_WORKER_CLASS", "gthread" if threads > 1 else "sync"
)
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# The longest link the API issues (a next page's signed cursor for the longest title,
# after the longest search) must fit in one request line: gunicorn's default, 4094
# bytes, would answer such a link with an HTML 414. 8190 is gunicorn's maximum.
limit_request_line = 8190
# The application logs one structured line per request itself; gunicorn's access log
# would repeat it without the request id.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Recycle workers now and then so a slow leak can never grow without bound. Not
# often: a worker's memory stays flat once its caches are warm (docs/performance.md:
# 245,000 requests), and each new worker pays for a connection, its caches and the
# first statements of each shape again (recycling every 10,000 requests cost the list
# about 3 % of its requests per second).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "100000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "10000"))
# Load the application once in the master and fork the workers from it: a worker
# that is recycled (max_requests) starts from memory instead of importing Django.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() in {"1", "true", "yes"}


def when_ready(server: object) -> None:
    """The master, before it forks the workers: import the URLconf, and with it every
    view, serializer and filter, once (Django would on each worker's first request,
    about 150 ms of it; a mistake in them now stops the start)."""
    if preload_app:
        from django.conf import settings

        importlib.import_module(settings.ROOT_URLCONF)
