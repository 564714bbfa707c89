"""Indexes for open-task lists, the priority and title orderings, and ?search=.

The partial indexes serve the lists of open tasks (newest first, or by due date) of
a user whose tasks are mostly completed; they replace ``(owner, status)``, which no
list query used. The next two serve ``ordering=priority`` and ``ordering=title``
(either direction) for one owner without a sort. The trigram GIN indexes serve the
case-insensitive substring search and need PostgreSQL's pg_trgm extension; on other
databases they exist in the migration state only (the search then scans, as before),
so that the models and migrations still agree everywhere.
"""

import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.conf import settings
from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models


class AddIndexOnPostgreSQL(migrations.AddIndex):
    """``AddIndex`` whose SQL runs on PostgreSQL only; the state changes everywhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [
        ("todos", "0002_owner_fk_on_delete_cascade"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # No list query read it: the open-task indexes below serve ?status= instead.
        migrations.RemoveIndex(model_name="task", name="todos_task_owner_status_idx"),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                models.F("owner"),
                models.OrderBy(models.F("created_at"), descending=True),
                models.OrderBy(models.F("id"), descending=True),
                condition=models.Q(("status", "completed"), _negated=True),
                name="todos_task_owner_open_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                condition=models.Q(("status", "completed"), _negated=True),
                fields=["owner", "due_at", "id"],
                name="todos_task_owner_open_due_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                fields=["owner", "priority", "id"], name="todos_task_owner_priority_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(
                fields=["owner", "title", "id"], name="todos_task_owner_title_idx"
            ),
        ),
        # Does nothing on other databases; on PostgreSQL, pg_trgm is a trusted
        # extension, so the database owner may create it without being a superuser.
        TrigramExtension(),
        AddIndexOnPostgreSQL(
            model_name="task",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("title"), name="gin_trgm_ops"
                ),
                name="todos_task_title_trgm_idx",
            ),
        ),
        AddIndexOnPostgreSQL(
            model_name="task",
            index=django.contrib.postgres.indexes.GinIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.text.Upper("description"),
                    name="gin_trgm_ops",
                ),
                name="todos_task_desc_trgm_idx",
            ),
        ),
    ]
