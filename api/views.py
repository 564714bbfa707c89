"""URL resolver error handlers: problem documents under /api/, HTML elsewhere."""

from __future__ import annotations

from django.core.exceptions import TooManyFieldsSent
from django.http import HttpRequest, HttpResponse
from django.views import defaults

from api.problems import is_api_request, problem_response


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return problem_response(404, "Not found.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return problem_response(500, "An unexpected error occurred on the server.")
    return defaults.server_error(request)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's own 400s (e.g. over DATA_UPLOAD_MAX_NUMBER_FIELDS parameters)."""
    if is_api_request(request):
        if isinstance(exception, TooManyFieldsSent):
            return problem_response(400, "The request has too many parameters.")
        return problem_response(400, "The request is malformed.")
    return defaults.bad_request(request, exception)
