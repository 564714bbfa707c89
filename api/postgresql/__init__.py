"""Django's PostgreSQL backend, reading ``timestamptz`` with psycopg's C loader."""
