"""api/permissions.py: IsOwner, the second line behind the scoped queryset."""

from __future__ import annotations

import pytest
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.routers import SimpleRouter
from rest_framework.test import APIClient, APIRequestFactory

from api.permissions import IsOwner
from tests.conftest import bearer
from tests.factories import TaskFactory
from todos.models import Task

pytestmark = pytest.mark.django_db


def _request(user) -> Request:
    request = Request(APIRequestFactory().get("/"))
    request.user = user
    return request


def test_the_owner_is_allowed(user):
    task = TaskFactory.create(owner=user)
    assert IsOwner().has_object_permission(_request(user), None, task) is True


def test_another_user_is_refused(user, other_user):
    task = TaskFactory.create(owner=other_user)
    assert IsOwner().has_object_permission(_request(user), None, task) is False


def test_an_anonymous_caller_is_refused(user):
    from django.contrib.auth.models import AnonymousUser

    task = TaskFactory.create(owner=user)
    assert (
        IsOwner().has_object_permission(_request(AnonymousUser()), None, task) is False
    )


class _TitleSerializer(serializers.ModelSerializer[Task]):
    class Meta:
        model = Task
        fields = ["id", "title"]


class _Unscoped(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Deliberately left unscoped: every task of every user is reachable by id."""

    queryset = Task.objects.all()
    serializer_class = _TitleSerializer
    permission_classes = [IsAuthenticated, IsOwner]


router = SimpleRouter()
router.register("unscoped", _Unscoped, basename="unscoped")
urlpatterns = router.urls


def test_it_refuses_another_users_object_when_a_view_is_left_unscoped(
    settings, user, other_user
):
    settings.ROOT_URLCONF = __name__
    theirs = TaskFactory.create(owner=other_user, title="secret")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))

    response = client.get(f"/unscoped/{theirs.pk}/")

    assert response.status_code == status.HTTP_403_FORBIDDEN
    assert b"secret" not in response.content
    mine = TaskFactory.create(owner=user, title="mine")
    assert client.get(f"/unscoped/{mine.pk}/").json()["title"] == "mine"
