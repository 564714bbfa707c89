"""api/checks.py: a view serving owned rows without the scoping base fails the check."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from rest_framework import mixins, serializers, viewsets
from rest_framework.routers import SimpleRouter

from accounts.models import User
from api.checks import (
    ADMIN_MIDDLEWARE,
    check_admin_middleware,
    check_owned_models_are_scoped,
    has_owner,
)
from todos.models import Task


class _TaskSerializer(serializers.ModelSerializer[Task]):
    class Meta:
        model = Task
        fields = ["id", "title"]


class _ByQueryset(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = Task.objects.all()
    serializer_class = _TaskSerializer


class _BySerializer(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = _TaskSerializer

    def get_queryset(self):
        return Task.objects.all()


router = SimpleRouter()
router.register("by-queryset", _ByQueryset, basename="by-queryset")
router.register("by-serializer", _BySerializer, basename="by-serializer")
urlpatterns = router.urls


def test_the_projects_urlconf_passes():
    assert check_owned_models_are_scoped() == []


def test_manage_py_check_runs_it():
    # call_command("check") raises SystemCheckError on any error-level message.
    call_command("check", tags=[checks.Tags.security])


def test_an_unscoped_view_of_an_owned_model_is_an_error():
    errors = check_owned_models_are_scoped(urlconf=__name__)
    assert {(e.id, e.obj) for e in errors} == {
        ("api.E001", _ByQueryset),
        ("api.E001", _BySerializer),
    }
    assert all("todos.Task" in e.msg for e in errors)


def test_it_knows_which_models_have_an_owner():
    assert has_owner(Task) is True
    assert has_owner(User) is False


# --- api.E002: the admin's middleware behind SiteMiddleware ------------------------

SESSION, AUTH, MESSAGES, CSRF = ADMIN_MIDDLEWARE


def test_the_projects_middleware_passes():
    assert check_admin_middleware() == []


def test_the_admins_middleware_counts_inside_site_middleware(settings):
    settings.MIDDLEWARE = ["api.middleware.SiteMiddleware"]
    settings.SITE_MIDDLEWARE = [SESSION, CSRF, AUTH, MESSAGES]
    assert check_admin_middleware() == []


def test_the_admins_middleware_still_counts_in_middleware_itself(settings):
    settings.MIDDLEWARE = [SESSION, CSRF, AUTH, MESSAGES]
    settings.SITE_MIDDLEWARE = []
    assert check_admin_middleware() == []


@pytest.mark.parametrize("missing", ADMIN_MIDDLEWARE)
def test_a_missing_admin_middleware_is_an_error(settings, missing):
    settings.SITE_MIDDLEWARE = [m for m in ADMIN_MIDDLEWARE if m != missing]
    errors = check_admin_middleware()
    assert [e.id for e in errors] == ["api.E002"]
    assert missing in errors[0].msg


def test_the_user_middleware_before_the_session_is_an_error(settings):
    settings.SITE_MIDDLEWARE = [AUTH, SESSION, CSRF, MESSAGES]
    assert [e.id for e in check_admin_middleware()] == ["api.E002"]


def test_site_middleware_without_its_list_is_an_error(settings):
    del settings.SITE_MIDDLEWARE
    assert {e.id for e in check_admin_middleware()} == {"api.E002"}
