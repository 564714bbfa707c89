"""The throttles' answers, read when first needed instead of waited for at once.

DRF checks the throttles in ``initial()``, before the handler: against Redis that
is a round trip the request waits out before doing anything else. A throttle with
``ask(request, view)`` (``accounts.throttling.UserRateThrottle``) sends its
question at that point and gives back a callable that reads the answer. A view
with :class:`DeferredThrottlesMixin` reads it when it is first needed: before the
request's first SQL statement, or before its response if it runs none. Meanwhile
the view does the work that needs no database (a page's cursor and plan, a body's
validation), and the answer is usually there by then: the worker waits once per
request, for the database, instead of twice.

What a client sees does not change. A refused request runs no statement of its
handler (each one raises the refusal instead, the first one included) and answers
the same 429 with ``Retry-After``, whatever its handler did without the database;
a Redis failure is the same 503.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

Verdict = Callable[[], bool]


class DeferredThrottlesMixin(APIView):
    """Reads the throttles' answers before the first statement or the response."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Asked and not answered yet: (throttle, its answer).
        self._asked: list[tuple[Any, Verdict]] = []
        # The answer, once known to refuse: raised again for every later statement.
        self._refusal: Exception | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with contextlib.ExitStack() as stack:
            for alias in connections:
                stack.enter_context(
                    connections[alias].execute_wrapper(self._before_statement)
                )
            return super().dispatch(request, *args, **kwargs)

    def check_throttles(self, request: Request) -> None:
        """DRF's check, asking the throttles that can answer later (``ask()``
        returns their answer); the others answer now, as in DRF."""
        durations = []
        for throttle in self.get_throttles():
            ask = getattr(throttle, "ask", None)
            answer = None if ask is None else ask(request, self)
            if answer is not None:
                self._asked.append((throttle, answer))
            elif not throttle.allow_request(request, self):
                durations.append(throttle.wait())
        if durations:
            self._answer_throttles(durations)

    def answer_throttles(self, response: Response) -> Response:
        """``response``, or the throttles' refusal (a 429, or the 503 of a throttle
        that cannot answer) if they refuse. Call before answering: the view's
        ``finalize_response()``; statements run after it are the answer's own."""
        try:
            self._answer_throttles()
        except Exception as exc:
            response = self.handle_exception(exc)
        self._refusal = None
        return response

    def finalize_response(
        self, request: Request, response: Any, *args: Any, **kwargs: Any
    ) -> Response:
        response = self.answer_throttles(response)
        return super().finalize_response(request, response, *args, **kwargs)

    def _answer_throttles(self, durations: list[Any] | None = None) -> None:
        """DRF's refusal (the longest wait) if any throttle asked refuses."""
        if self._refusal is None and (self._asked or durations):
            asked, self._asked = self._asked, []
            durations = list(durations or ())
            try:
                for throttle, allowed in asked:
                    if not allowed():
                        durations.append(throttle.wait())
                if durations:
                    # APIView.check_throttles: the longest wait any of them names.
                    waits = [wait for wait in durations if wait is not None]
                    wait = max(waits, default=None)
                    self.throttled(self.request, wait)  # type: ignore[arg-type]
            except Exception as exc:
                self._refusal = exc
        if self._refusal is not None:
            raise self._refusal

    def _before_statement(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: Any,
    ) -> Any:
        if self._asked or self._refusal is not None:
            self._answer_throttles()
        return execute(sql, params, many, context)
