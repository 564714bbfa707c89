"""Benchmark the task API as production serves it, beside a raw WSGI floor.

``make bench`` (``python -m bench``):

1. ``manage.py migrate``; ``manage.py seed`` unless the benchmark's users are already
   there (``scale-N@seed.example.com`` for N in ``--sizes``); ``VACUUM ANALYZE``
   (:mod:`bench.seeding`). The floor's own table goes into a database of its own
   (``<database>_floor`` on the same server) from ``../shared/perf/floor/schema.sql``.
2. In this process: a writer user, tokens, task pools and cursors
   (:mod:`bench.seeding`).
3. ``make serve`` (production settings under gunicorn, as deployed) and the floor
   (``gunicorn -w 2 app:app``), each in a process group of its own on a free
   loopback port (:mod:`bench.servers`).
4. wrk, a separate C process driven by the Lua scripts in bench/lua/, for each
   scenario and round: the product, then the floor on the scenarios it has, each with
   a warm-up and the measured run, with the CPU the server's processes and the
   database's backends spent meanwhile, from /proc (:mod:`bench.wrk`,
   :mod:`bench.scenarios`). One sample request of each scenario goes through
   Django's test client in this process to count its SQL (``CaptureQueriesContext``,
   which leaves out the health check's ``SELECT 1`` below the cursor level).
5. The scale curve: first and deep list pages of users with 1k ... 1M tasks, over one
   connection, in rounds.

Prints the tables (medians over the rounds; the product / floor ratio per scenario)
and writes them to bench/results/<time>.json and latest.json (:mod:`bench.report`).
The user throttle never refuses (it still runs on every request) and tokens live for
an hour; nothing else differs from ``make serve``.
"""
