"""Request guards, response headers, and the site-only middleware."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from api.problems import PROBLEM_CONTENT_TYPE, is_api_request, problem_response


class RequestBodyLimitMiddleware:
    """Refuse API bodies larger than ``API_MAX_BODY_BYTES`` with 413, unread.

    The declared ``Content-Length`` is checked before the body is touched, so a
    10 MB upload costs no memory. Django's own DATA_UPLOAD_MAX_MEMORY_SIZE would
    raise only once the body is read and answers 400. A chunked body, which has no
    length to check, is refused with 411.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.limit: int = settings.API_MAX_BODY_BYTES

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_request(request):
            if "Transfer-Encoding" in request.headers:
                # Under WSGI Django reads no body without a Content-Length: a chunked
                # body would silently count as empty.
                return problem_response(
                    411, "Send the body with a Content-Length; chunked is not accepted."
                )
            declared = request.headers.get("Content-Length") or "0"
            try:
                length = int(declared)
            except ValueError:
                return problem_response(400, "The Content-Length header is invalid.")
            if length > self.limit:
                return problem_response(
                    413,
                    f"The request body is {length} bytes; the limit is {self.limit}.",
                )
        return self.get_response(request)


_JSON_TYPES = (PROBLEM_CONTENT_TYPE, "application/json")


class ApiNotFoundMiddleware:
    """Every 404 under ``/api/`` is a problem document, in every settings module.

    ``handler404`` already answers one when ``DEBUG`` is off; with ``DEBUG`` on,
    Django answers an unknown URL with its technical HTML page before any handler
    runs. This rewrites any 404 under ``/api/`` that is not JSON (that page, or an
    ``Http404`` from a plain Django view) into the usual problem, so an API client
    sees the same error on a laptop as in production. A JSON 404 is an answer a view
    chose (the Better Auth compatibility routes answer ``application/json`` with
    ``message``) and is left alone.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and is_api_request(request)
            and not response.get("Content-Type", "").startswith(_JSON_TYPES)
        ):
            return problem_response(404, "Not found.")
        return response


class ReleaseRequestMiddleware:
    """Cut the links that tie a DRF request's objects into cycles, once rendered.

    DRF builds three cycles per request: the view holds its handlers as bound
    methods (a viewset's ``view.get = view.list``) and the request, the request's
    ``parser_context`` holds the request, and the response's ``renderer_context``
    holds the response. Reference counting cannot free a cycle, so everything the
    request made (the view, both requests, a page's rows and documents) waited for
    Python's cycle collector, which traced it all in the middle of later requests:
    about 200 µs of a list request's CPU under gunicorn (docs/performance.md). A
    viewset's serializers and a FilterSet (``release_with_view``) go with the view.
    The response leaves this middleware rendered, and nothing reads those links
    again: without them the request's objects go the moment the response does.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if getattr(response, "is_rendered", False):
            context = response.__dict__.pop("renderer_context", None)
            if context is not None:
                release(context.get("view"), context.get("request"))
        return response


_RELEASED_WITH_VIEW = "_released_with_view"


def release_with_view(view: Any, obj: Any) -> None:
    """Have ``obj``'s state dropped with ``view``'s (a serializer, whose fields
    and the serializer point at each other, and whose context holds the view)."""
    view.__dict__.setdefault(_RELEASED_WITH_VIEW, []).append(obj)


def release(view: Any, request: Any) -> None:
    """Drop a finished view's state (and what goes with it) and its request's
    parser context."""
    if view is not None:
        for obj in view.__dict__.get(_RELEASED_WITH_VIEW, ()):
            obj.__dict__.clear()
        view.__dict__.clear()
    if request is not None:
        request.__dict__.pop("parser_context", None)


class ContentSecurityPolicyMiddleware:
    """Send ``settings.SECURE_CSP`` as the Content-Security-Policy header.

    ``SECURE_CSP`` maps a directive to its sources, the shape of Django 6.0's setting
    of that name; an empty mapping sends no header. A response that already carries
    a policy (a view that needs its own) keeps it. The setting is read per response
    (a join of a dozen short lists), so a test can switch it on a running server.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = build_policy(getattr(settings, "SECURE_CSP", {}))
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


def build_policy(directives: Mapping[str, Sequence[str]]) -> str:
    """``{"script-src": ["'self'"]}`` -> ``"script-src 'self'"``."""
    return "; ".join(" ".join([name, *sources]) for name, sources in directives.items())


class SiteMiddleware:
    """Run ``settings.SITE_MIDDLEWARE`` for every request but the API's.

    Sessions, CSRF cookies, the session user, messages and static files serve the
    admin and the static files; the API authenticates by bearer token and touches
    none of them, yet each would still build its objects on every API request.
    Django has no middleware per URL, so this one holds them: it builds their
    chain once, as Django's handler does, runs it for every path outside
    ``/api/`` (their ``process_view`` hooks included, CSRF's check among them),
    and passes API requests straight on.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._view_hooks: list[Callable[..., HttpResponse | None]] = []
        handler: Callable[[HttpRequest], HttpResponse] = get_response
        for path in reversed(settings.SITE_MIDDLEWARE):
            try:
                middleware = import_string(path)(handler)
            except MiddlewareNotUsed:
                continue
            for hook in ("process_exception", "process_template_response"):
                if hasattr(middleware, hook):
                    raise ImproperlyConfigured(
                        f"{path} has {hook}(): list it in MIDDLEWARE, not in "
                        "SITE_MIDDLEWARE."
                    )
            if hasattr(middleware, "process_view"):
                self._view_hooks.insert(0, middleware.process_view)
            handler = convert_exception_to_response(middleware)  # type: ignore[assignment]
        self._site = handler

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_request(request):
            return self.get_response(request)
        return self._site(request)

    def process_view(
        self,
        request: HttpRequest,
        view: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if is_api_request(request):
            return None
        for hook in self._view_hooks:
            response = hook(request, view, args, kwargs)
            if response is not None:
                return response
        return None
