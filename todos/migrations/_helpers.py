"""Operations the lists and labels migrations share."""

from django.db import migrations

PALETTE = [
    ("red", "Red"),
    ("orange", "Orange"),
    ("yellow", "Yellow"),
    ("green", "Green"),
    ("teal", "Teal"),
    ("blue", "Blue"),
    ("violet", "Violet"),
    ("pink", "Pink"),
    ("brown", "Brown"),
    ("grey", "Grey"),
]


def cascade_owner_fk(table: str, new_name: str, on_delete: str):
    """A RunPython function recreating ``table``'s owner FK with ``on_delete``."""

    def run(apps, schema_editor):
        connection = schema_editor.connection
        if connection.vendor != "postgresql":
            return
        # Django adds a new table's foreign keys when the migration ends: add them
        # now, so that the one to replace exists.
        for statement in schema_editor.deferred_sql:
            schema_editor.execute(statement)
        schema_editor.deferred_sql.clear()
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, table)
        for name, info in constraints.items():
            if info["foreign_key"] and info["columns"] == ["owner_id"]:
                schema_editor.execute(
                    f"ALTER TABLE {table} DROP CONSTRAINT "
                    f"{schema_editor.quote_name(name)}"
                )
        schema_editor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {schema_editor.quote_name(new_name)} "
            "FOREIGN KEY (owner_id) REFERENCES accounts_user (id) "
            f"ON DELETE {on_delete} DEFERRABLE INITIALLY DEFERRED"
        )

    return run


def on_postgresql(sql: list[str], reverse_sql: list[str]):
    """RunPython functions running the statements (and back) on PostgreSQL only."""

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in sql:
                schema_editor.execute(statement)

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in reverse_sql:
                schema_editor.execute(statement)

    return forwards, backwards


class AddUniqueConstraintWithoutRebuild(migrations.AddConstraint):
    """``AddConstraint`` of a plain ``UniqueConstraint``, as an index on SQLite.

    Django adds one to an SQLite table by rebuilding the table from the model state,
    which recreates every index of that state, including the PostgreSQL-only trigram
    indexes of 0003 that SQLite cannot create. A unique index is the same guarantee.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "sqlite":
            return super().database_forwards(
                app_label, schema_editor, from_state, to_state
            )
        model = to_state.apps.get_model(app_label, self.model_name)
        columns = ", ".join(
            schema_editor.quote_name(model._meta.get_field(name).column)
            for name in self.constraint.fields
        )
        schema_editor.execute(
            f"CREATE UNIQUE INDEX {schema_editor.quote_name(self.constraint.name)} "
            f"ON {schema_editor.quote_name(model._meta.db_table)} ({columns})"
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "sqlite":
            return super().database_backwards(
                app_label, schema_editor, from_state, to_state
            )
        schema_editor.execute(
            f"DROP INDEX {schema_editor.quote_name(self.constraint.name)}"
        )
