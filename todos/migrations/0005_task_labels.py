"""Labels, and the task–label link that PostgreSQL keeps within one owner.

The link table carries the owner; on PostgreSQL ``(owner_id, task_id)`` references
``todos_task (owner_id, id)`` and ``(owner_id, label_id)`` references ``todos_label
(owner_id, id)``, both ``ON DELETE CASCADE``: no write path can label a task with
another user's label, and deleting a task or a label (even in raw SQL) removes its
links. The owner foreign keys cascade in the database as the task table's does.
SQLite keeps the plain foreign keys only (see 0004_task_lists).
"""

import django.db.models.deletion
import django.db.models.functions.text
import django.db.models.lookups
from django.conf import settings
from django.db import migrations, models

import todos.expressions
import todos.ids
from todos.migrations import _helpers

PALETTE = _helpers.PALETTE
TASK_FK = "todos_tasklabel_task_same_owner_fk"
LABEL_FK = "todos_tasklabel_label_same_owner_fk"


class Migration(migrations.Migration):
    dependencies = [
        ("todos", "0004_task_lists"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Label",
            fields=[
                ("id", models.UUIDField(default=todos.ids.uuid7, editable=False, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=60)),
                ("color", models.CharField(blank=True, choices=PALETTE, max_length=20, null=True)),
                ("created_at", models.DateTimeField(db_default=todos.expressions.DatabaseNow(), editable=False)),
                ("updated_at", models.DateTimeField(db_default=todos.expressions.DatabaseNow(), editable=False)),
                ("version", models.IntegerField(db_default=1, default=1, editable=False)),
                ("owner", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="labels", to=settings.AUTH_USER_MODEL)),
            ],
            options={"ordering": [django.db.models.functions.text.Lower("name"), "id"]},
        ),
        migrations.AddConstraint(
            model_name="label",
            constraint=models.CheckConstraint(condition=django.db.models.lookups.GreaterThan(django.db.models.functions.text.Length(todos.expressions.TrimWhitespace("name")), 0), name="todos_label_name_not_blank", violation_error_message="The name may not be blank."),
        ),
        migrations.AddConstraint(
            model_name="label",
            constraint=models.CheckConstraint(condition=django.db.models.lookups.LessThanOrEqual(django.db.models.functions.text.Length("name"), 60), name="todos_label_name_max_length", violation_error_message="The name may have at most 60 characters."),
        ),
        migrations.AddConstraint(
            model_name="label",
            constraint=models.UniqueConstraint(models.F("owner"), django.db.models.functions.text.Lower("name"), name="todos_label_owner_name_ci_uniq", violation_error_message="You already have one with this name."),
        ),
        migrations.AddConstraint(
            model_name="label",
            constraint=models.CheckConstraint(condition=models.Q(("color__isnull", True), ("color__in", [value for value, _ in PALETTE]), _connector="OR"), name="todos_label_color_valid", violation_error_message="The colour is not one of the palette's."),
        ),
        migrations.AddConstraint(
            model_name="label",
            constraint=models.CheckConstraint(condition=models.Q(("version__gte", 1)), name="todos_label_version_positive", violation_error_message="The version must be a positive integer."),
        ),
        migrations.AddConstraint(
            model_name="label",
            constraint=models.UniqueConstraint(fields=("owner", "id"), name="todos_label_owner_id_uniq"),
        ),
        _helpers.AddUniqueConstraintWithoutRebuild(
            model_name="task",
            constraint=models.UniqueConstraint(fields=("owner", "id"), name="todos_task_owner_id_uniq"),
        ),
        migrations.CreateModel(
            name="TaskLabel",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("label", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="task_links", to="todos.label")),
                ("owner", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("task", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="label_links", to="todos.task")),
            ],
        ),
        migrations.AddConstraint(
            model_name="tasklabel",
            constraint=models.UniqueConstraint(fields=("task", "label"), name="todos_tasklabel_task_label_uniq"),
        ),
        migrations.AddIndex(
            model_name="tasklabel",
            index=models.Index(fields=["label", "task"], name="todos_tasklabel_label_idx"),
        ),
        migrations.AddIndex(
            model_name="tasklabel",
            index=models.Index(fields=["owner"], name="todos_tasklabel_owner_idx"),
        ),
        # The link table is the whole of the field in the database: nothing to run
        # (SQLite would otherwise rebuild the task table for it; see _helpers).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="task",
                    name="labels",
                    field=models.ManyToManyField(blank=True, related_name="tasks", through="todos.TaskLabel", to="todos.label"),
                ),
            ],
        ),
        migrations.RunPython(
            *_helpers.on_postgresql(
                [
                    f"ALTER TABLE todos_tasklabel ADD CONSTRAINT {TASK_FK} "
                    "FOREIGN KEY (owner_id, task_id) "
                    "REFERENCES todos_task (owner_id, id) ON DELETE CASCADE",
                    f"ALTER TABLE todos_tasklabel ADD CONSTRAINT {LABEL_FK} "
                    "FOREIGN KEY (owner_id, label_id) "
                    "REFERENCES todos_label (owner_id, id) ON DELETE CASCADE",
                ],
                [
                    f"ALTER TABLE todos_tasklabel DROP CONSTRAINT {TASK_FK}",
                    f"ALTER TABLE todos_tasklabel DROP CONSTRAINT {LABEL_FK}",
                ],
            ),
            elidable=False,
        ),
        migrations.RunPython(
            _helpers.cascade_owner_fk(
                "todos_label", "todos_label_owner_id_fk_accounts_user_cascade", "CASCADE"
            ),
            _helpers.cascade_owner_fk(
                "todos_label", "todos_label_owner_id_fk_accounts_user_id", "NO ACTION"
            ),
            elidable=False,
        ),
        migrations.RunPython(
            _helpers.cascade_owner_fk(
                "todos_tasklabel",
                "todos_tasklabel_owner_id_fk_accounts_user_cascade",
                "CASCADE",
            ),
            _helpers.cascade_owner_fk(
                "todos_tasklabel", "todos_tasklabel_owner_id_fk_accounts_user_id", "NO ACTION"
            ),
            elidable=False,
        ),
    ]
