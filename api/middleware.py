"""Request guards that must run before anything reads the body."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from api.problems import is_api_request, problem_response


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
            if "HTTP_TRANSFER_ENCODING" in request.META:
                # Under WSGI Django reads no body without a Content-Length: a chunked
                # body would silently count as empty.
                return problem_response(
                    411, "Send the body with a Content-Length; chunked is not accepted."
                )
            declared = request.META.get("CONTENT_LENGTH") or "0"
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
