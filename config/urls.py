"""Root URL configuration: the API root, the admin, the v1 API and its documentation,
and the Better Auth compatibility routes."""

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView

from api import docs, health, root

# Django tries the patterns in order on every request, each include that does not
# match raises and catches an exception on the way, and each include level builds a
# match of its own: the task routes, the hot paths, come first and one include deep
# (below), then the rest of /api/v1/ (docs/performance.md). No two patterns match the
# same path, so the order changes nothing else.
api_v1: list[URLPattern | URLResolver] = [
    path("", root.ApiRootView.as_view(), name="api-root"),
    path("auth/", include("accounts.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs.SwaggerView.as_view(url_name="schema"), name="docs"),
    path("redoc/", docs.RedocView.as_view(url_name="schema"), name="redoc"),
]

urlpatterns = [
    # The task, list and label routes first and one include deep: the hot paths
    # try no other pattern and pass through no resolver of their own.
    path("api/v1/", include("todos.urls")),
    path("api/v1/", include(api_v1)),
    # /api/{user_id}/tasks for Next.js + Better Auth front ends (404 unless
    # BETTER_AUTH_ENABLED); after /api/v1/ so that it can never shadow it.
    path("", include("compat.urls")),
    path("", root.ApiRootView.as_view(), name="root"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]

handler400 = "api.views.bad_request"
handler404 = "api.views.not_found"
handler500 = "api.views.server_error"
