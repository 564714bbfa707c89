"""System checks of the HTTP layer.

- ``api.E001``: every view that serves owned rows goes through owner scoping. A
  view whose model has an owner (a foreign key named by ``owner_field``, ``owner``
  by default, to the user model) must subclass
  :class:`api.scoping.OwnerScopedViewSet`. Forgetting it is an error at start-up,
  in ``manage.py check`` and in the test suite, not a leak found in production.
- ``api.E002``: the site's middleware, which Django's own checks (the admin's
  ``admin.E408`` to ``E410`` and ``check --deploy``'s ``security.W003`` for CSRF,
  silenced) look for in ``MIDDLEWARE`` only, is in ``MIDDLEWARE`` or in
  ``SITE_MIDDLEWARE`` behind :class:`api.middleware.SiteMiddleware`, in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core import checks
from django.db.models import ForeignKey, Model
from django.urls import URLPattern, URLResolver, get_resolver

from api.scoping import OwnerScopedViewSet


def _view_classes(
    patterns: list[URLPattern | URLResolver], prefix: str = ""
) -> Iterator[tuple[str, type]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _view_classes(pattern.url_patterns, route)
            continue
        view_class = getattr(pattern.callback, "cls", None)
        if isinstance(view_class, type):
            yield route, view_class


def _served_model(view_class: type) -> type[Model] | None:
    queryset = getattr(view_class, "queryset", None)
    if queryset is not None:
        return queryset.model
    model = getattr(view_class, "model", None)
    if isinstance(model, type) and issubclass(model, Model):
        return model
    serializer = getattr(view_class, "serializer_class", None)
    meta = getattr(serializer, "Meta", None)
    model = getattr(meta, "model", None)
    if isinstance(model, type) and issubclass(model, Model):
        return model
    return None


def has_owner(model: type[Model]) -> bool:
    """Whether rows of ``model`` belong to a user."""
    for field in model._meta.get_fields():
        if (
            isinstance(field, ForeignKey)
            and field.name == "owner"
            and field.related_model._meta.label == settings.AUTH_USER_MODEL
        ):
            return True
    return False


@checks.register(checks.Tags.security, checks.Tags.urls)
def check_owned_models_are_scoped(
    app_configs: Any = None, urlconf: str | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for route, view_class in _view_classes(get_resolver(urlconf).url_patterns):
        model = _served_model(view_class)
        if model is None or not has_owner(model):
            continue
        if not issubclass(view_class, OwnerScopedViewSet):
            errors.append(
                checks.Error(
                    f"{view_class.__module__}.{view_class.__qualname__} serves "
                    f"{model._meta.label}, whose rows have an owner, at "
                    f"/{route} without owner scoping.",
                    hint="Subclass api.scoping.OwnerScopedViewSet.",
                    obj=view_class,
                    id="api.E001",
                )
            )
    return errors


SITE_MIDDLEWARE = "api.middleware.SiteMiddleware"
ADMIN_MIDDLEWARE = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
)


def effective_middleware() -> list[str]:
    """``MIDDLEWARE`` as a request outside ``/api/`` runs it."""
    chain = list(settings.MIDDLEWARE)
    if SITE_MIDDLEWARE in chain:
        at = chain.index(SITE_MIDDLEWARE)
        chain[at : at + 1] = getattr(settings, "SITE_MIDDLEWARE", [])
    return chain


@checks.register(checks.Tags.admin)
def check_admin_middleware(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    chain = effective_middleware()
    errors: list[checks.CheckMessage] = [
        checks.Error(
            f"'{name}' must be in MIDDLEWARE or SITE_MIDDLEWARE for the admin.",
            id="api.E002",
        )
        for name in ADMIN_MIDDLEWARE
        if name not in chain
    ]
    if not errors and chain.index(ADMIN_MIDDLEWARE[0]) > chain.index(
        ADMIN_MIDDLEWARE[1]
    ):
        errors.append(
            checks.Error(
                "SessionMiddleware must come before AuthenticationMiddleware.",
                id="api.E002",
            )
        )
    return errors
