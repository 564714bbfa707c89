from django.apps import AppConfig


class CompatConfig(AppConfig):
    """The ``/api/{user_id}/tasks`` routes Next.js + Better Auth front ends call."""

    name = "compat"
    verbose_name = "Front-end compatibility routes"
