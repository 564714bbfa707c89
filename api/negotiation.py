"""Content negotiation: DRF's, its answer remembered for the Accept headers seen.

Every request negotiates its renderer before its view runs: DRF parses the Accept
header into media types, orders them by precedence and matches them against the
renderers, about 25 µs of a detail's CPU here (docs/performance.md). Clients
send the same few headers again and again (``*/*``, ``application/json``, none),
so ``ContentNegotiation`` keeps DRF's answer for each (renderers, format, Accept)
it has seen and gives it again. What it keeps is DRF's own result, for exactly the
inputs DRF reads, so the choice is DRF's; a refusal (406, or 404 for an unknown
format) is not kept and is DRF's every time.

The memo holds client input, so it is bounded twice: headers longer than
``MEMO_HEADER_LENGTH`` are negotiated afresh and never kept, and the memo is
emptied when it reaches ``MEMO_SIZE`` entries, so a client cycling through
headers costs itself a negotiation per request and nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

MEMO_SIZE = 128
MEMO_HEADER_LENGTH = 128

# (each renderer's class, media type and format; the format asked for; the Accept
# header) -> (the chosen renderer's index, the accepted media type).
_Key = tuple[tuple[tuple[type, str, Any], ...], Any, str | None]
_memo: dict[_Key, tuple[int, str]] = {}


class ContentNegotiation(DefaultContentNegotiation):
    """``DefaultContentNegotiation``, remembering its choice per distinct input."""

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        # The inputs DRF's select_renderer reads: the format (suffix, else query
        # parameter), the Accept header, and each renderer's media type and format.
        format_ = format_suffix or request.query_params.get(
            self.settings.URL_FORMAT_OVERRIDE
        )
        accept = request.META.get("HTTP_ACCEPT")
        if accept is not None and len(accept) > MEMO_HEADER_LENGTH:
            return super().select_renderer(request, renderers, format_suffix)
        key = (
            tuple((type(r), r.media_type, r.format) for r in renderers),
            format_,
            accept,
        )
        known = _memo.get(key)
        if known is not None:
            index, media_type = known
            return renderers[index], media_type
        renderer, media_type = super().select_renderer(
            request, renderers, format_suffix
        )
        if len(_memo) >= MEMO_SIZE:
            _memo.clear()
        _memo[key] = (renderers.index(renderer), media_type)
        return renderer, media_type
