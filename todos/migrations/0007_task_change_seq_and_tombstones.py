"""The changes feed: a per-owner change sequence on tasks, and tombstones.

Adds ``Task.change_seq`` (existing rows keep 0, a constant default, so PostgreSQL
does not rewrite the table) with its feed index, the per-owner counter and the
tombstones of deleted tasks. As 0002 does for tasks, the owner foreign keys of the
new tables cascade in PostgreSQL itself, so a user deleted by raw SQL takes their
counter and tombstones along.
"""

import django.db.models.deletion
import todos.expressions
from django.conf import settings
from django.db import migrations, models


CASCADING = {
    "todos_changesequence": "todos_changesequence_owner_id_fk_cascade",
    "todos_tasktombstone": "todos_tasktombstone_owner_id_fk_cascade",
}


def _owner_fks(schema_editor, table):
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(
            cursor, table
        )
    return [
        name
        for name, info in constraints.items()
        if info["foreign_key"] and info["columns"] == ["owner_id"]
    ]


def _recreate_fks(schema_editor, on_delete, suffix):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, name in CASCADING.items():
        for old in _owner_fks(schema_editor, table):
            schema_editor.execute(
                f"ALTER TABLE {table} DROP CONSTRAINT {schema_editor.quote_name(old)}"
            )
        new = name if suffix is None else f"{table}_owner_id_fk_{suffix}"
        schema_editor.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {schema_editor.quote_name(new)} "
            "FOREIGN KEY (owner_id) REFERENCES accounts_user (id) "
            f"ON DELETE {on_delete} DEFERRABLE INITIALLY DEFERRED"
        )


CHANGE_SEQ = models.BigIntegerField(db_default=0, default=0, editable=False)
CHANGE_SEQ_NOT_NEGATIVE = models.CheckConstraint(
    condition=models.Q(("change_seq__gte", 0)),
    name="todos_task_change_seq_not_negative",
    violation_error_message="The change sequence may not be negative.",
)


def add_change_seq(apps, schema_editor):
    """Add the column as Django would, without rebuilding the task table.

    On SQLite, Django adds a NOT NULL column and a CHECK by copying the table, which
    would recreate every index of the model state, the PostgreSQL-only trigram
    indexes of 0003 included. SQLite's own ADD COLUMN takes both at once.
    """
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            "ALTER TABLE todos_task ADD COLUMN change_seq bigint NOT NULL DEFAULT 0 "
            "CONSTRAINT todos_task_change_seq_not_negative CHECK (change_seq >= 0)"
        )
        return
    schema_editor.execute(
        "ALTER TABLE todos_task ADD COLUMN change_seq bigint DEFAULT 0 NOT NULL"
    )
    schema_editor.execute(
        "ALTER TABLE todos_task ADD CONSTRAINT todos_task_change_seq_not_negative "
        "CHECK (change_seq >= 0)"
    )


def drop_change_seq(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        schema_editor.execute(
            "ALTER TABLE todos_task DROP CONSTRAINT todos_task_change_seq_not_negative"
        )
    schema_editor.execute("ALTER TABLE todos_task DROP COLUMN change_seq")


def forwards(apps, schema_editor):
    _recreate_fks(schema_editor, "CASCADE", None)


def backwards(apps, schema_editor):
    _recreate_fks(schema_editor, "NO ACTION", "accounts_user_id")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_cache_table'),
        ('todos', '0006_task_manual_order'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ChangeSequence',
            fields=[
                ('owner', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to=settings.AUTH_USER_MODEL)),
                ('last_seq', models.BigIntegerField(db_default=0, default=0)),
                ('pruned_seq', models.BigIntegerField(db_default=0, default=0)),
            ],
        ),
        migrations.CreateModel(
            name='TaskTombstone',
            fields=[
                ('task_id', models.UUIDField(editable=False, primary_key=True, serialize=False)),
                ('change_seq', models.BigIntegerField()),
                ('deleted_at', models.DateTimeField(db_default=todos.expressions.DatabaseNow(), editable=False)),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="task",
                    name="change_seq",
                    field=CHANGE_SEQ,
                ),
                migrations.AddConstraint(
                    model_name="task", constraint=CHANGE_SEQ_NOT_NEGATIVE
                ),
            ],
            database_operations=[
                migrations.RunPython(
                    add_change_seq, drop_change_seq, elidable=False
                ),
            ],
        ),
        migrations.AddIndex(
            model_name='task',
            index=models.Index(fields=['owner', 'change_seq', 'id'], name='todos_task_owner_change_idx'),
        ),
        migrations.AddConstraint(
            model_name='changesequence',
            constraint=models.CheckConstraint(condition=models.Q(('pruned_seq__gte', 0), ('last_seq__gte', models.F('pruned_seq'))), name='todos_changesequence_pruned_within_last', violation_error_message='Sequences only grow, and only what was handed out is pruned.'),
        ),
        migrations.AddField(
            model_name='tasktombstone',
            name='owner',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddIndex(
            model_name='tasktombstone',
            index=models.Index(fields=['owner', 'change_seq', 'task_id'], name='todos_tomb_owner_change_idx'),
        ),
        migrations.AddIndex(
            model_name='tasktombstone',
            index=models.Index(fields=['deleted_at'], name='todos_tomb_deleted_idx'),
        ),
        migrations.AddConstraint(
            model_name='tasktombstone',
            constraint=models.CheckConstraint(condition=models.Q(('change_seq__gte', 1)), name='todos_tasktombstone_change_seq_positive', violation_error_message="A tombstone's sequence number is positive."),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
