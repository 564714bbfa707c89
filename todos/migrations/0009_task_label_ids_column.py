"""PostgreSQL: each task carries its label ids in ``todos_task.label_ids``, kept by
the database.

A page of 50 tasks read each task's label ids through a subquery per row
(``array_to_string(ARRAY(SELECT label_id ...), ',')``): about a third of the page
query's PostgreSQL time (docs/performance.md). The column holds the same text,
written by triggers on ``todos_tasklabel`` whenever a statement adds, removes or
moves links, whoever runs it (the API, the admin, a cascade, a COPY, raw SQL), so
reads take it as it is. ``todos.expressions.TaskLabelIds`` reads it.

Not a model field, and PostgreSQL only: Django never writes it (no model instance
can write back a copy read before a link changed), and SQLite, which rebuilds a
table from its model state on many schema changes, would drop a column it does not
know. SQLite keeps reading the links through the subquery.

The links' triggers touch the tasks whose links a statement changed; a task's own
row trigger (``BEFORE INSERT OR UPDATE OF id, label_ids``) writes the text. A row
trigger runs once the row is locked, and the query that reads the links is a
statement of its own: under READ COMMITTED it sees every link committed by a writer
it waited for, so two transactions changing one task's links both end with all of
them in the text. Any other write of the column, raw SQL's included, is replaced by
the true text; a new task's is empty (no link can come before its task: the links'
composite key to it is checked at once). TRUNCATE of the links empties every
task's text.
"""

from django.db import migrations

from todos.migrations._helpers import on_postgresql

# The text the page query used to compute; todos.expressions.JoinedIds spells it.
_JOINED = (
    "array_to_string(ARRAY(SELECT l.label_id FROM todos_tasklabel AS l "
    "WHERE l.task_id = {task} ORDER BY l.label_id), ',')"
)

SQL = [
    "ALTER TABLE todos_task ADD COLUMN label_ids text NOT NULL DEFAULT ''",
    f"UPDATE todos_task AS t SET label_ids = {_JOINED.format(task='t.id')} "
    "WHERE EXISTS (SELECT FROM todos_tasklabel AS l WHERE l.task_id = t.id)",
    """
CREATE FUNCTION todos_tasklabel_label_ids() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tasks uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        tasks := ARRAY(SELECT DISTINCT task_id FROM new_links);
    ELSIF TG_OP = 'DELETE' THEN
        tasks := ARRAY(SELECT DISTINCT task_id FROM old_links);
    ELSE
        tasks := ARRAY(
            SELECT task_id FROM old_links UNION SELECT task_id FROM new_links
        );
    END IF;
    -- todos_task_label_ids() writes each task's text, its row locked first.
    UPDATE todos_task SET label_ids = label_ids WHERE id = ANY (tasks);
    RETURN NULL;
END
$$
""",
    "CREATE TRIGGER todos_tasklabel_label_ids_insert AFTER INSERT ON todos_tasklabel "
    "REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT "
    "EXECUTE FUNCTION todos_tasklabel_label_ids()",
    "CREATE TRIGGER todos_tasklabel_label_ids_delete AFTER DELETE ON todos_tasklabel "
    "REFERENCING OLD TABLE AS old_links FOR EACH STATEMENT "
    "EXECUTE FUNCTION todos_tasklabel_label_ids()",
    "CREATE TRIGGER todos_tasklabel_label_ids_update AFTER UPDATE ON todos_tasklabel "
    "REFERENCING OLD TABLE AS old_links NEW TABLE AS new_links FOR EACH STATEMENT "
    "EXECUTE FUNCTION todos_tasklabel_label_ids()",
    """
CREATE FUNCTION todos_tasklabel_label_ids_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE todos_task SET label_ids = '' WHERE label_ids <> '';
    RETURN NULL;
END
$$
""",
    "CREATE TRIGGER todos_tasklabel_label_ids_truncate AFTER TRUNCATE "
    "ON todos_tasklabel FOR EACH STATEMENT "
    "EXECUTE FUNCTION todos_tasklabel_label_ids_truncate()",
    f"""
CREATE FUNCTION todos_task_label_ids() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- No link can come first: its key to the task is checked at once.
        NEW.label_ids := '';
    ELSE
        NEW.label_ids := {_JOINED.format(task='NEW.id')};
    END IF;
    RETURN NEW;
END
$$
""",
    "CREATE TRIGGER todos_task_label_ids BEFORE INSERT OR UPDATE OF id, label_ids "
    "ON todos_task FOR EACH ROW EXECUTE FUNCTION todos_task_label_ids()",
]

REVERSE_SQL = [
    "DROP TRIGGER todos_task_label_ids ON todos_task",
    "DROP FUNCTION todos_task_label_ids()",
    "DROP TRIGGER todos_tasklabel_label_ids_truncate ON todos_tasklabel",
    "DROP FUNCTION todos_tasklabel_label_ids_truncate()",
    "DROP TRIGGER todos_tasklabel_label_ids_update ON todos_tasklabel",
    "DROP TRIGGER todos_tasklabel_label_ids_delete ON todos_tasklabel",
    "DROP TRIGGER todos_tasklabel_label_ids_insert ON todos_tasklabel",
    "DROP FUNCTION todos_tasklabel_label_ids()",
    "ALTER TABLE todos_task DROP COLUMN label_ids",
]


class Migration(migrations.Migration):
    dependencies = [("todos", "0008_lists_labels_change_seq")]

    operations = [
        migrations.RunPython(*on_postgresql(SQL, REVERSE_SQL), elidable=False),
    ]
