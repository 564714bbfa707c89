"""api.postgresql's operations, on every database: batches within 65,535 parameters.

tests/api/test_postgresql.py deletes an account of more tasks than that on
PostgreSQL; this holds the arithmetic everywhere.
"""

from __future__ import annotations

from api.postgresql.base import MAX_PARAMETERS, DatabaseOperations

# No database: bulk_batch_size reads only its arguments.
OPS = DatabaseOperations(connection=None)  # type: ignore[arg-type]


def test_a_batch_fits_in_one_statements_parameters():
    assert MAX_PARAMETERS == 65535
    assert OPS.bulk_batch_size(["a"] * 10, list(range(100_000))) == 6553
    assert OPS.bulk_batch_size(["a"], list(range(100_000))) == 65535


def test_small_batches_and_wide_rows_still_make_progress():
    assert OPS.bulk_batch_size([], list(range(3))) == 3
    assert OPS.bulk_batch_size(["a"] * 70_000, [1, 2]) == 1
