"""Guards every response passes: problem 404s under /api/, the CSP header; the
site-only middleware; a DRF request's objects freed when its response is rendered.

Each settings module is loaded in a fresh interpreter (tests/support/probe.py):
DEBUG, the renderers and the policy are fixed when settings are imported.
"""

from __future__ import annotations

import gc
import io
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.test import Client
from django.urls import reverse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.middleware import ReleaseRequestMiddleware, SiteMiddleware, build_policy
from tests.conftest import bearer
from tests.factories import TaskFactory
from tests.support.probe import run_python
from todos.models import Label, TaskLabel, TaskList

SETTINGS = [
    "config.settings.local",
    "config.settings.test",
    "config.settings.production",
]

# Requests made with Django's test client inside a process of the given settings;
# prints one JSON object per request (status, content type, CSP, body).
PROBE = """
import json, sys, django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client = Client(raise_request_exception=False)
for path, accept in json.loads(sys.argv[1]):
    r = client.get(path, HTTP_ACCEPT=accept, secure=True)
    print(json.dumps({
        "status": r.status_code,
        "type": r.get("Content-Type", ""),
        "csp": r.get("Content-Security-Policy"),
        "frame_options": r.get("X-Frame-Options"),
        "nosniff": r.get("X-Content-Type-Options"),
        "body": r.content.decode(errors="replace")[:200000],
    }))
"""


def _probe(module: str, directory: Path, requests: list[tuple[str, str]]) -> list[dict]:
    code = f"import sys; sys.argv = ['probe', {json.dumps(json.dumps(requests))}]\n"
    result = run_python(
        code + PROBE,
        env={
            "DJANGO_SETTINGS_MODULE": module,
            "DJANGO_SECRET_KEY": "probe-secret-key-" + "x" * 40,
            "JWT_SIGNING_KEY": "probe-jwt-signing-key-" + "y" * 40,
            "DATABASE_URL": f"sqlite:///{directory / 'probe.sqlite3'}",
            "DJANGO_LOG_LEVEL": "ERROR",
        },
        drop=("DJANGO_", "JWT_", "REDIS_URL", "DATABASE_", "DIRECT_DATABASE_URL"),
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


UNKNOWN_API_PATHS = [
    ("/api/v1/no-such-thing/", "application/json"),
    ("/api/v1/no-such-thing/", "text/html"),
    ("/api/v2/", "*/*"),
    ("/api/", "text/html"),
]
PAGES = [
    ("/api/v1/", "application/json"),
    ("/api/v1/docs/", "text/html"),
    ("/admin/login/", "text/html"),
]
OUTSIDE = ("/no-such-page/", "text/html")
ROOT_IN_A_BROWSER = ("/", "text/html,application/xhtml+xml,*/*;q=0.8")


@pytest.fixture(scope="module")
def probed(tmp_path_factory) -> dict[str, dict[tuple[str, str], dict]]:
    """One interpreter per settings module answers every request of this file."""
    requests = [*UNKNOWN_API_PATHS, *PAGES, OUTSIDE, ROOT_IN_A_BROWSER]
    directory = tmp_path_factory.mktemp("probe")
    return {
        module: dict(zip(requests, _probe(module, directory, requests), strict=True))
        for module in SETTINGS
    }


NOT_FOUND = {
    "type": "urn:taskapi:problem:not-found",
    "title": "Not Found",
    "status": 404,
    "detail": "Not found.",
}


@pytest.mark.parametrize("module", SETTINGS)
def test_unknown_api_paths_are_problem_404s_in_every_settings_module(module, probed):
    """With DEBUG on (local) Django's technical 404 page would otherwise answer."""
    for request in UNKNOWN_API_PATHS:
        response = probed[module][request]
        assert response["status"] == 404, (request, response)
        assert response["type"] == "application/problem+json", (request, response)
        assert json.loads(response["body"]) == NOT_FOUND
        # Substituted innermost: the security headers are still added around it.
        assert response["frame_options"] == "DENY", (request, response)
        assert response["nosniff"] == "nosniff", (request, response)


@pytest.mark.parametrize("module", SETTINGS)
def test_pages_outside_the_api_keep_htmls_404(module, probed):
    response = probed[module][OUTSIDE]
    assert response["status"] == 404
    assert response["type"].startswith("text/html")


def test_outside_the_api_local_settings_still_show_the_technical_404_page(probed):
    """The control: DEBUG is really on, so /api/ paths are rescued by the guard."""
    assert (
        "Using the URLconf defined in"
        in probed["config.settings.local"][OUTSIDE]["body"]
    )


@pytest.mark.parametrize(
    ("module", "has_policy"),
    [
        ("config.settings.local", False),
        ("config.settings.test", False),
        ("config.settings.production", True),
    ],
)
def test_only_production_sends_a_content_security_policy(module, has_policy, probed):
    for request in [*PAGES, *UNKNOWN_API_PATHS]:
        response = probed[module][request]
        assert (response["csp"] is not None) is has_policy, (request, response)


@pytest.mark.parametrize(
    ("module", "content_type"),
    [
        ("config.settings.local", "text/html"),
        ("config.settings.test", "application/json"),
        ("config.settings.production", "application/json"),
    ],
)
def test_a_browser_gets_the_api_root_as_html_only_where_debug_is_on(
    module, content_type, probed
):
    """The browsable API (DEBUG only) renders the root's links as a page."""
    response = probed[module][ROOT_IN_A_BROWSER]
    assert response["status"] == 200
    assert response["type"].startswith(content_type)
    assert "://testserver/api/v1/tasks/" in response["body"]


def test_the_production_policy_allows_this_origin_only_and_no_inline_script(probed):
    response = probed["config.settings.production"][("/api/v1/docs/", "text/html")]
    directives = {
        part.split()[0]: part.split()[1:] for part in response["csp"].split("; ")
    }
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["connect-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    for sources in directives.values():
        assert not any(s.startswith(("http", "'unsafe")) for s in sources), sources


def test_the_policy_header_is_the_setting_and_a_views_own_policy_wins(client, settings):
    settings.SECURE_CSP = {"default-src": ["'self'"], "img-src": ["'self'", "data:"]}
    assert client.get(reverse("healthz"))["Content-Security-Policy"] == (
        "default-src 'self'; img-src 'self' data:"
    )
    assert "unsafe-inline" in client.get(reverse("redoc"))["Content-Security-Policy"]


def test_build_policy_joins_directives_in_order():
    assert build_policy({}) == ""
    assert build_policy({"a": ["x", "y"], "b": ["z"]}) == "a x y; b z"


# --- SiteMiddleware: the admin's middleware, skipped under /api/ -------------------

calls: list[str] = []


class Recorder:
    """A site middleware that records its calls and its process_view."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.name = type(self).__name__

    def __call__(self, request):
        calls.append(f"{self.name} call")
        return self.get_response(request)

    def process_view(self, request, view, args, kwargs):
        calls.append(f"{self.name} view")
        return None


class First(Recorder):
    pass


class Second(Recorder):
    pass


class Refuses(Recorder):
    def process_view(self, request, view, args, kwargs):
        calls.append(f"{self.name} view")
        return HttpResponse(status=403)


class HandlesExceptions(Recorder):
    def process_exception(self, request, exception):
        return None


def _site(settings, *names: str) -> SiteMiddleware:
    settings.SITE_MIDDLEWARE = [f"{__name__}.{name}" for name in names]
    calls.clear()
    return SiteMiddleware(lambda request: HttpResponse("inner"))


@pytest.mark.parametrize("path", ["/api/v1/tasks/", "/api/"])
def test_api_requests_skip_the_site_middleware(settings, rf, path):
    site = _site(settings, "First", "Second")
    request = rf.get(path)
    assert site(request).content == b"inner"
    assert site.process_view(request, lambda r: None, (), {}) is None
    assert calls == []


@pytest.mark.parametrize("path", ["/admin/login/", "/static/x.css", "/"])
def test_other_requests_run_it_in_order_with_its_view_hooks(settings, rf, path):
    site = _site(settings, "First", "Second")
    request = rf.get(path)
    assert site(request).content == b"inner"
    assert site.process_view(request, lambda r: None, (), {}) is None
    assert calls == ["First call", "Second call", "First view", "Second view"]


def test_a_view_hook_that_answers_stops_the_others(settings, rf):
    site = _site(settings, "Refuses", "Second")
    response = site.process_view(rf.post("/admin/login/"), lambda r: None, (), {})
    assert response is not None
    assert response.status_code == 403
    assert calls == ["Refuses view"]


def test_a_middleware_with_hooks_it_cannot_run_is_refused(settings):
    with pytest.raises(ImproperlyConfigured, match="process_exception"):
        _site(settings, "First", "HandlesExceptions")


@pytest.mark.django_db
def test_the_api_builds_no_session_and_the_admin_does(client):
    api = client.get("/api/v1/")
    assert api.status_code == 200
    assert not hasattr(api.wsgi_request, "session")
    assert not hasattr(api.wsgi_request, "_messages")
    admin = client.get("/admin/login/")
    assert admin.status_code == 200
    assert hasattr(admin.wsgi_request, "session")
    assert "csrftoken" in admin.cookies


@pytest.mark.django_db
def test_the_admin_login_still_checks_its_csrf_token(django_user_model):
    django_user_model.objects.create_superuser(
        email="boss@example.com", password="Adm1n-Passphrase-42"
    )
    browser = Client(enforce_csrf_checks=True)
    form = {"username": "boss@example.com", "password": "Adm1n-Passphrase-42"}
    assert browser.post("/admin/login/", form).status_code == 403
    browser.get("/admin/login/")
    token = browser.cookies["csrftoken"].value
    signed_in = browser.post(
        "/admin/login/?next=/admin/", {**form, "csrfmiddlewaretoken": token}
    )
    assert signed_in.status_code == 302
    assert browser.get("/admin/").status_code == 200


# --- ReleaseRequestMiddleware: a request's objects go with its response ------------

RELEASE = "api.middleware.ReleaseRequestMiddleware"


def _served(handler: WSGIHandler, method: str, path: str, auth: str, body: dict | None):
    """One request through ``handler`` as a WSGI server makes it: the body read
    to the end and the response closed. Returns the status line."""
    data = json.dumps(body).encode() if body is not None else b""
    path, _, query = path.partition("?")
    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update(
        REQUEST_METHOD=method,
        PATH_INFO=path,
        QUERY_STRING=query,
        HTTP_HOST="localhost",
        HTTP_AUTHORIZATION=auth,
        CONTENT_TYPE="application/json",
        CONTENT_LENGTH=str(len(data)),
    )
    environ["wsgi.input"] = io.BytesIO(data)
    status: list[str] = []

    def start_response(
        line: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], object]:
        status.append(line)
        return len

    # As Django's test client does: the test's transaction keeps its connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = handler(environ, start_response)
        b"".join(response)
        response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return status[0]


def _cyclic_garbage(serve: Callable[[], str]) -> tuple[str, list[object]]:
    """What one request leaves for the cycle collector: the objects only it can free.

    Served once before, so that what a first request caches for good (compiled
    SQL, a verified token) is not counted.
    """
    serve()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        status = serve()
        gc.collect()
        return status, list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def _of_the_request(garbage: list[object]) -> list[object]:
    kinds = (HttpRequest, Request, APIView, HttpResponseBase)
    return [obj for obj in garbage if isinstance(obj, kinds)]


@pytest.fixture
def owned(user) -> dict[str, str]:
    """A user's page of labelled tasks in a list, with the paths to request."""
    task_list = TaskList.objects.create(owner=user, name="Home", position=1)
    label = Label.objects.create(owner=user, name="errand")
    tasks = TaskFactory.create_batch(3, owner=user, list=task_list)
    for task in tasks:
        TaskLabel.objects.create(owner=user, task=task, label=label)
    return {"auth": bearer(user), "task": f"/api/v1/tasks/{tasks[0].pk}/"}


READS = ["/api/v1/tasks/", "TASK", "/api/v1/lists/", "/api/v1/labels/"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", READS)
def test_a_read_leaves_nothing_for_the_cycle_collector(owned, path):
    """DRF's view, request and response point at each other, and so everything the
    request made (a page's rows and documents) waited for the cycle collector,
    which traced it all again (docs/performance.md); once the response is
    rendered the middleware cuts those links, and reference counting frees it."""
    path = owned["task"] if path == "TASK" else path
    handler = WSGIHandler()
    status, garbage = _cyclic_garbage(
        lambda: _served(handler, "GET", path, owned["auth"], None)
    )
    assert status == "200 OK"
    assert garbage == []


WRITES = [
    ("POST", "/api/v1/tasks/", {"title": "Water the plants"}, "201 Created"),
    ("PATCH", "TASK", {"priority": "high"}, "200 OK"),
    ("POST", "/api/v1/labels/", {"name": "garden {n}"}, "201 Created"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "body", "expected"), WRITES)
def test_a_write_leaves_none_of_its_request_for_the_cycle_collector(
    owned, method, path, body, expected
):
    """A serializer and its fields point at each other, and its context holds the
    view and the request: the viewset's serializers are cleared with the view. A
    field holding another field (a list of ids) still makes a small cycle of its
    own, a dozen objects, but none of the request's."""
    path = owned["task"] if path == "TASK" else path
    handler = WSGIHandler()
    serial = itertools.count()  # a new label's name each time: names are unique

    def serve() -> str:
        fresh = {k: v.format(n=next(serial)) for k, v in body.items()}
        return _served(handler, method, path, owned["auth"], fresh)

    status, garbage = _cyclic_garbage(serve)
    assert status == expected
    assert _of_the_request(garbage) == []
    assert len(garbage) < 30, sorted({type(obj).__name__ for obj in garbage})


@pytest.mark.django_db
def test_without_the_middleware_a_list_is_left_to_the_cycle_collector(settings, owned):
    """The control: the same request, with the middleware taken out of the chain."""
    settings.MIDDLEWARE = [name for name in settings.MIDDLEWARE if name != RELEASE]
    handler = WSGIHandler()
    status, garbage = _cyclic_garbage(
        lambda: _served(handler, "GET", "/api/v1/tasks/", owned["auth"], None)
    )
    assert status == "200 OK"
    kinds = {type(obj).__name__ for obj in _of_the_request(garbage)}
    assert {"WSGIRequest", "Request", "TaskViewSet", "Response"} <= kinds


def test_an_unrendered_response_keeps_its_links(rf):
    """A response that leaves unrendered (none does, from Django's handler) is
    rendered later with its context: nothing may be cut before."""
    view = APIView()
    response = Response({"a": 1})
    response.renderer_context = {"view": view, "request": None}  # type: ignore[attr-defined]
    view.request = "kept"  # type: ignore[assignment]
    assert ReleaseRequestMiddleware(lambda request: response)(rf.get("/")) is response
    assert response.renderer_context["view"] is view  # type: ignore[attr-defined]
    assert view.request == "kept"


def test_a_plain_response_passes_untouched(rf):
    plain = HttpResponse("x")
    assert ReleaseRequestMiddleware(lambda request: plain)(rf.get("/")) is plain
