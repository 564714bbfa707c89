"""Admin for Better Auth identities: who signed in, as whom, and when."""

from django.contrib import admin

from betterauth.models import ExternalIdentity


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin[ExternalIdentity]):
    """Read-only: identities are made by sign-ins, and the link is never edited.

    Deactivate the local user (Users → active) to refuse a Better Auth user.
    """

    list_display = (
        "subject",
        "provider",
        "email",
        "name",
        "user",
        "user_active",
        "created_at",
        "last_seen_at",
    )
    list_filter = ("provider", "user__is_active", "created_at")
    search_fields = ("subject", "email", "name", "user__email")
    list_select_related = ("user",)
    readonly_fields = (
        "provider",
        "subject",
        "user",
        "email",
        "name",
        "email_verified",
        "created_at",
        "last_seen_at",
    )
    ordering = ("-created_at",)

    @admin.display(boolean=True, description="active")
    def user_active(self, obj: ExternalIdentity) -> bool:
        return obj.user.is_active

    def has_add_permission(self, request: object) -> bool:
        return False
