"""A task's manual position within its list or the inbox, unique there.

New tasks take the next value of a sequence stepping by the gap (PostgreSQL), so
every insert lands last without a lock, and COPY or raw SQL inserts get one too.
Existing tasks are numbered in creation order. On SQLite, which has no sequences,
the column default is a sentinel that an AFTER INSERT trigger replaces with the
largest position plus the gap; Django rebuilds SQLite tables for some schema
changes and a rebuild drops triggers, so a later migration that rebuilds
todos_task on SQLite must create the trigger again (tests would catch it: new tasks
would all keep the sentinel and collide).
"""

from django.conf import settings
from django.db import migrations, models

import todos.expressions

GAP = 1 << 20  # todos.models.POSITION_GAP
UNPLACED = -(2**63)  # todos.expressions.UNPLACED_POSITION
NUMBER_IN_CREATION_ORDER = (
    "UPDATE todos_task SET position = s.rn * {gap} "
    "FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS rn "
    "FROM todos_task) AS s WHERE todos_task.id = s.id"
).format(gap=GAP)
SQLITE_TRIGGER = f"""
CREATE TRIGGER todos_task_position_default AFTER INSERT ON todos_task
WHEN NEW.position = {UNPLACED}
BEGIN
    UPDATE todos_task SET position = (
        SELECT COALESCE(MAX(position), 0) + {GAP} FROM todos_task
        WHERE position <> {UNPLACED}
    ) WHERE id = NEW.id;
END
"""


def add_position(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    run = schema_editor.execute
    if vendor == "postgresql":
        run(f"CREATE SEQUENCE todos_task_position_seq INCREMENT BY {GAP} START {GAP}")
        run(
            "ALTER TABLE todos_task ADD COLUMN position bigint "
            "DEFAULT nextval('todos_task_position_seq') NOT NULL"
        )
        run("ALTER SEQUENCE todos_task_position_seq OWNED BY todos_task.position")
        run(NUMBER_IN_CREATION_ORDER)
        run(
            "SELECT setval('todos_task_position_seq', "
            f"COALESCE((SELECT MAX(position) FROM todos_task), 0) + {GAP}, false)"
        )
    elif vendor == "sqlite":
        run(
            "ALTER TABLE todos_task ADD COLUMN position bigint NOT NULL "
            f"DEFAULT {UNPLACED}"
        )
        run(NUMBER_IN_CREATION_ORDER)
        run(SQLITE_TRIGGER)
    else:  # pragma: no cover - the project runs on PostgreSQL and SQLite only
        raise NotImplementedError(vendor)


def remove_position(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER todos_task_position_default")
    # The sequence is owned by the column: PostgreSQL drops it with the column.
    schema_editor.execute("ALTER TABLE todos_task DROP COLUMN position")


class Migration(migrations.Migration):
    dependencies = [
        ("todos", "0005_task_labels"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="task",
                    name="position",
                    field=models.BigIntegerField(db_default=todos.expressions.NextTaskPosition(), editable=False),
                ),
            ],
            database_operations=[
                migrations.RunPython(add_position, remove_position, elidable=False),
            ],
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.UniqueConstraint(condition=models.Q(("list__isnull", False)), fields=("list", "position"), name="todos_task_list_position_uniq", violation_error_message="Two tasks of a list may not share a place."),
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.UniqueConstraint(condition=models.Q(("list__isnull", True)), fields=("owner", "position"), name="todos_task_inbox_position_uniq", violation_error_message="Two inbox tasks may not share a place."),
        ),
    ]
