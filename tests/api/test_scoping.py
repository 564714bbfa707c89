"""api/scoping.py: the owner-scoping base cannot be bypassed by a subclass."""

from __future__ import annotations

import pytest
from rest_framework import mixins, serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.routers import SimpleRouter
from rest_framework.test import APIClient

from api.permissions import IsOwner
from api.scoping import GUARDED_MEMBERS, OwnerScopedViewSet
from tests.conftest import bearer
from tests.factories import TaskFactory
from todos.models import Task

pytestmark = pytest.mark.django_db


class _TitleSerializer(serializers.ModelSerializer[Task]):
    class Meta:
        model = Task
        fields = ["id", "title"]


class _DenyWrites(BasePermission):
    def has_permission(self, request, view):
        return request.method == "GET"


class _Scoped(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    OwnerScopedViewSet,
):
    model = Task
    serializer_class = _TitleSerializer
    permission_classes = [_DenyWrites]


class _ScopedOpen(mixins.CreateModelMixin, OwnerScopedViewSet):
    model = Task
    serializer_class = _TitleSerializer
    # Tries to drop the owner's permissions: they come back in front.
    permission_classes = []


router = SimpleRouter()
router.register("scoped", _Scoped, basename="scoped")
router.register("open", _ScopedOpen, basename="open")
urlpatterns = router.urls


@pytest.mark.parametrize("member", GUARDED_MEMBERS)
def test_a_subclass_may_not_define_any_guarded_member(member):
    with pytest.raises(TypeError, match=f"may not define {member}"):
        type(
            "Leaky",
            (OwnerScopedViewSet,),
            {"model": Task, member: lambda self, *a, **k: None},
        )


def test_a_subclass_adds_permissions_after_the_owners_never_instead():
    assert _Scoped.permission_classes == [IsAuthenticated, IsOwner, _DenyWrites]
    assert _ScopedOpen.permission_classes == [IsAuthenticated, IsOwner]


@pytest.fixture
def scoped_urls(settings):
    settings.ROOT_URLCONF = __name__


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(user))
    return client


def test_lists_and_retrieves_only_the_requesters_rows(scoped_urls, user, other_user):
    mine = TaskFactory.create(owner=user)
    theirs = TaskFactory.create(owner=other_user)
    client = _client(user)
    listed = client.get("/scoped/").json()
    assert [row["id"] for row in listed] == [str(mine.pk)]
    assert client.get(f"/scoped/{theirs.pk}/").status_code == status.HTTP_404_NOT_FOUND
    assert client.get(f"/scoped/{mine.pk}/").status_code == status.HTTP_200_OK


def test_anonymous_callers_are_refused_even_without_the_owner_permission_listed(
    scoped_urls,
):
    response = APIClient().post("/open/", {"title": "x"}, format="json")
    assert response.status_code == status.HTTP_401_UNAUTHORIZED
    assert not Task.objects.exists()


def test_create_sets_the_owner_itself_whatever_the_body_says(
    scoped_urls, user, other_user
):
    response = _client(user).post(
        "/open/", {"title": "mine", "owner": str(other_user.pk)}, format="json"
    )
    assert response.status_code == status.HTTP_201_CREATED
    task = Task.objects.get(pk=response.json()["id"])
    assert task.owner_id == user.pk


def test_a_subclass_permission_still_applies(scoped_urls, user):
    response = _client(user).post("/scoped/", {"title": "x"}, format="json")
    assert response.status_code == status.HTTP_403_FORBIDDEN
    assert not Task.objects.exists()


def test_drf_mixins_cannot_shadow_the_bases_members():
    for name in ("perform_create", "get_object", "get_queryset"):
        assert getattr(_ScopedOpen, name) is OwnerScopedViewSet.__dict__[name]


def test_a_mixin_of_our_own_that_defines_a_guarded_member_is_refused():
    class Sneaky:
        def get_object(self):
            return None

    with pytest.raises(TypeError, match="may not define get_object"):
        type("Leaky", (Sneaky, OwnerScopedViewSet), {"model": Task})


def test_a_subclass_of_a_scoped_viewset_is_scoped_and_guarded_too():
    class Child(_ScopedOpen):
        pass

    assert Child.get_queryset is OwnerScopedViewSet.__dict__["get_queryset"]
    assert Child.perform_create is OwnerScopedViewSet.__dict__["perform_create"]
    with pytest.raises(TypeError, match="may not define get_object"):
        type("Grandchild", (Child,), {"get_object": lambda self: None})
