"""``/api/{user_id}/tasks[/{id}[/complete]]``, with or without a trailing slash.

``{user_id}`` is anything but ``v<digits>``, so that ``/api/v1/tasks`` (without its
slash) is never read as the tasks of a user called ``v1``.
"""

from django.urls import re_path

from compat.views import CompatTaskViewSet

app_name = "compat"

USER = r"(?P<user_id>(?!v\d+/)[^/]+)"
TASK = r"(?P<pk>[^/]+)"

urlpatterns = [
    re_path(
        rf"^api/{USER}/tasks/?$",
        CompatTaskViewSet.as_view({"get": "list", "post": "create"}),
        name="tasks",
    ),
    re_path(
        rf"^api/{USER}/tasks/{TASK}/?$",
        CompatTaskViewSet.as_view(
            {"get": "retrieve", "put": "update", "patch": "update", "delete": "destroy"}
        ),
        name="task",
    ),
    re_path(
        rf"^api/{USER}/tasks/{TASK}/complete/?$",
        CompatTaskViewSet.as_view({"patch": "toggle"}),
        name="task-complete",
    ),
]
