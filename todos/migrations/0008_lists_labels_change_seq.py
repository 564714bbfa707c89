"""The changes feed carries lists and labels: their change sequence and tombstones.

Adds ``change_seq`` to ``todos_tasklist`` and ``todos_label`` (existing rows keep
0, a constant default, so PostgreSQL does not rewrite the tables; SQLite's own ADD
COLUMN, so Django does not copy the tables) with their feed indexes, and the
tombstones of deleted lists and labels, whose owner foreign key cascades in
PostgreSQL itself as the task tombstones' does (0007).
"""

import django.db.models.deletion
import todos.expressions
from django.conf import settings
from django.db import migrations, models

from todos.migrations._helpers import cascade_owner_fk

TABLES = ("todos_tasklist", "todos_label")


def _model_name(table):
    return table.removeprefix("todos_")


def _not_negative(table):
    return models.CheckConstraint(
        condition=models.Q(("change_seq__gte", 0)),
        name=f"{table}_change_seq_not_negative",
        violation_error_message="The change sequence may not be negative.",
    )


def add_change_seq(apps, schema_editor):
    for table in TABLES:
        check = f"{table}_change_seq_not_negative"
        if schema_editor.connection.vendor == "sqlite":
            schema_editor.execute(
                f"ALTER TABLE {table} ADD COLUMN change_seq bigint NOT NULL "
                f"DEFAULT 0 CONSTRAINT {check} CHECK (change_seq >= 0)"
            )
            continue
        schema_editor.execute(
            f"ALTER TABLE {table} ADD COLUMN change_seq bigint DEFAULT 0 NOT NULL"
        )
        schema_editor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK (change_seq >= 0)"
        )


def drop_change_seq(apps, schema_editor):
    for table in TABLES:
        if schema_editor.connection.vendor != "sqlite":
            schema_editor.execute(
                f"ALTER TABLE {table} DROP CONSTRAINT {table}_change_seq_not_negative"
            )
        schema_editor.execute(f"ALTER TABLE {table} DROP COLUMN change_seq")


class Migration(migrations.Migration):

    dependencies = [
        ("todos", "0007_task_change_seq_and_tombstones"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                op
                for table in TABLES
                for op in (
                    migrations.AddField(
                        model_name=_model_name(table),
                        name="change_seq",
                        field=models.BigIntegerField(
                            db_default=0, default=0, editable=False
                        ),
                    ),
                    migrations.AddConstraint(
                        model_name=_model_name(table), constraint=_not_negative(table)
                    ),
                )
            ],
            database_operations=[
                migrations.RunPython(add_change_seq, drop_change_seq, elidable=False),
            ],
        ),
        migrations.AddIndex(
            model_name="tasklist",
            index=models.Index(
                fields=["owner", "change_seq", "id"],
                name="todos_list_owner_change_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="label",
            index=models.Index(
                fields=["owner", "change_seq", "id"],
                name="todos_label_owner_change_idx",
            ),
        ),
        migrations.CreateModel(
            name="NamedTombstone",
            fields=[
                ("id", models.UUIDField(editable=False, primary_key=True, serialize=False)),
                ("kind", models.CharField(choices=[("list", "List"), ("label", "Label")], max_length=5)),
                ("change_seq", models.BigIntegerField()),
                ("deleted_at", models.DateTimeField(db_default=todos.expressions.DatabaseNow(), editable=False)),
                ("owner", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["owner", "change_seq", "id"], name="todos_ntomb_owner_change_idx"),
                    models.Index(fields=["deleted_at"], name="todos_ntomb_deleted_idx"),
                ],
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("change_seq__gte", 1)), name="todos_namedtombstone_change_seq_positive", violation_error_message="A tombstone's sequence number is positive."),
                    models.CheckConstraint(condition=models.Q(("kind__in", ["list", "label"])), name="todos_namedtombstone_kind_valid", violation_error_message="A tombstone is of a list or a label."),
                ],
            },
        ),
        migrations.RunPython(
            cascade_owner_fk(
                "todos_namedtombstone",
                "todos_namedtombstone_owner_id_fk_cascade",
                "CASCADE",
            ),
            cascade_owner_fk(
                "todos_namedtombstone",
                "todos_namedtombstone_owner_id_fk_accounts_user_id",
                "NO ACTION",
            ),
            elidable=False,
        ),
    ]
