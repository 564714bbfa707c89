"""Guards every response passes: problem 404s under /api/, the CSP header.

Each settings module is loaded in a fresh interpreter (tests/support/probe.py):
DEBUG, the renderers and the policy are fixed when settings are imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from api.middleware import SiteMiddleware, build_policy
from tests.support.probe import run_python

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
