"""Make the owner foreign key cascade in PostgreSQL itself.

Django 5.2 emulates ``on_delete=CASCADE`` in Python and creates the constraint
without an ON DELETE action, so a raw ``DELETE FROM accounts_user`` would be refused
(or, with the check deferred, fail at commit). Here the constraint is recreated with
``ON DELETE CASCADE`` so the database removes a deleted user's tasks on its own.
SQLite would need a table rebuild for this; the ORM's cascade covers it there.
"""

from django.db import migrations

FK_NAME = "todos_task_owner_id_fk_accounts_user_cascade"


def _owner_fk_names(schema_editor):
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(
            cursor, "todos_task"
        )
    return [
        name
        for name, info in constraints.items()
        if info["foreign_key"] and info["columns"] == ["owner_id"]
    ]


def _recreate_fk(schema_editor, on_delete: str, new_name: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in _owner_fk_names(schema_editor):
        schema_editor.execute(
            f"ALTER TABLE todos_task DROP CONSTRAINT {schema_editor.quote_name(name)}"
        )
    schema_editor.execute(
        f"ALTER TABLE todos_task ADD CONSTRAINT {schema_editor.quote_name(new_name)} "
        "FOREIGN KEY (owner_id) REFERENCES accounts_user (id) "
        f"ON DELETE {on_delete} DEFERRABLE INITIALLY DEFERRED"
    )


def forwards(apps, schema_editor):
    _recreate_fk(schema_editor, "CASCADE", FK_NAME)


def backwards(apps, schema_editor):
    _recreate_fk(schema_editor, "NO ACTION", "todos_task_owner_id_fk_accounts_user_id")


class Migration(migrations.Migration):
    dependencies = [("todos", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
