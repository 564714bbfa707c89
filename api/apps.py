from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The HTTP layer every app builds on (errors, parsing, scoping, probes)."""

    name = "api"
    verbose_name = "API framework"

    def ready(self) -> None:
        from api import checks  # noqa: F401  (registers the system checks)
