from django.apps import AppConfig


class BetterAuthConfig(AppConfig):
    """Better Auth sign-in: verified tokens and the local users they stand for."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "betterauth"
    verbose_name = "Better Auth"

    def ready(self) -> None:
        from betterauth import checks  # noqa: F401  (registers the system checks)
