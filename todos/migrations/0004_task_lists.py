"""Task lists, a task's list, and the database's guarantee that both share an owner.

PostgreSQL: ``todos_task (owner_id, list_id)`` references ``todos_tasklist (owner_id,
id)``, so no write path (the API, the admin, raw SQL) can put a task into another
user's list. The ORM keeps its plain ``list_id`` foreign key beside it. The owner
foreign key of the list table cascades in the database, as the task table's does
(0002), so a raw ``DELETE`` of a user still removes everything of theirs.

SQLite has no ``ALTER TABLE ... ADD CONSTRAINT`` (Django would rebuild the table, and
every later rebuild would drop a hand-made constraint): there the plain foreign key
makes the list exist, and the API's validation keeps it the owner's.
"""

import django.db.models.deletion
import django.db.models.functions.text
import django.db.models.lookups
from django.conf import settings
from django.db import migrations, models

import todos.expressions
import todos.ids
from todos.migrations import _helpers

SAME_OWNER_FK = "todos_task_list_same_owner_fk"
LIST_OWNER_FK = "todos_tasklist_owner_id_fk_accounts_user_cascade"
PALETTE = _helpers.PALETTE


class Migration(migrations.Migration):
    dependencies = [
        ("todos", "0003_task_ordering_and_search_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="TaskList",
            fields=[
                ("id", models.UUIDField(default=todos.ids.uuid7, editable=False, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
                ("color", models.CharField(blank=True, choices=PALETTE, max_length=20, null=True)),
                ("position", models.BigIntegerField(editable=False)),
                ("created_at", models.DateTimeField(db_default=todos.expressions.DatabaseNow(), editable=False)),
                ("updated_at", models.DateTimeField(db_default=todos.expressions.DatabaseNow(), editable=False)),
                ("version", models.IntegerField(db_default=1, default=1, editable=False)),
                ("owner", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="task_lists", to=settings.AUTH_USER_MODEL)),
            ],
            options={"verbose_name": "list", "ordering": ["position", "id"]},
        ),
        migrations.AddConstraint(
            model_name="tasklist",
            constraint=models.CheckConstraint(condition=django.db.models.lookups.GreaterThan(django.db.models.functions.text.Length(todos.expressions.TrimWhitespace("name")), 0), name="todos_tasklist_name_not_blank", violation_error_message="The name may not be blank."),
        ),
        migrations.AddConstraint(
            model_name="tasklist",
            constraint=models.CheckConstraint(condition=django.db.models.lookups.LessThanOrEqual(django.db.models.functions.text.Length("name"), 100), name="todos_tasklist_name_max_length", violation_error_message="The name may have at most 100 characters."),
        ),
        migrations.AddConstraint(
            model_name="tasklist",
            constraint=models.UniqueConstraint(models.F("owner"), django.db.models.functions.text.Lower("name"), name="todos_tasklist_owner_name_ci_uniq", violation_error_message="You already have one with this name."),
        ),
        migrations.AddConstraint(
            model_name="tasklist",
            constraint=models.CheckConstraint(condition=models.Q(("color__isnull", True), ("color__in", [value for value, _ in PALETTE]), _connector="OR"), name="todos_tasklist_color_valid", violation_error_message="The colour is not one of the palette's."),
        ),
        migrations.AddConstraint(
            model_name="tasklist",
            constraint=models.CheckConstraint(condition=models.Q(("version__gte", 1)), name="todos_tasklist_version_positive", violation_error_message="The version must be a positive integer."),
        ),
        migrations.AddConstraint(
            model_name="tasklist",
            constraint=models.UniqueConstraint(fields=("owner", "id"), name="todos_tasklist_owner_id_uniq"),
        ),
        migrations.AddConstraint(
            model_name="tasklist",
            constraint=models.UniqueConstraint(fields=("owner", "position"), name="todos_tasklist_owner_position_uniq", violation_error_message="Two lists may not share a position."),
        ),
        migrations.AddField(
            model_name="task",
            name="list",
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.RESTRICT, related_name="tasks", to="todos.tasklist"),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(models.F("list"), models.OrderBy(models.F("created_at"), descending=True), models.OrderBy(models.F("id"), descending=True), name="todos_task_list_created_idx"),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(models.F("owner"), models.OrderBy(models.F("created_at"), descending=True), models.OrderBy(models.F("id"), descending=True), condition=models.Q(("list__isnull", True)), name="todos_task_owner_inbox_idx"),
        ),
        migrations.RunPython(
            *_helpers.on_postgresql(
                [
                    f"ALTER TABLE todos_task ADD CONSTRAINT {SAME_OWNER_FK} "
                    "FOREIGN KEY (owner_id, list_id) "
                    "REFERENCES todos_tasklist (owner_id, id)"
                ],
                [f"ALTER TABLE todos_task DROP CONSTRAINT {SAME_OWNER_FK}"],
            ),
            elidable=False,
        ),
        migrations.RunPython(
            _helpers.cascade_owner_fk("todos_tasklist", LIST_OWNER_FK, "CASCADE"),
            _helpers.cascade_owner_fk(
                "todos_tasklist", "todos_tasklist_owner_id_fk_accounts_user_id", "NO ACTION"
            ),
            elidable=False,
        ),
    ]
