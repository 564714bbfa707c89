"""JSON rendering with orjson: DRF's documents, written by compiled code.

DRF's ``JSONRenderer`` runs the standard library's encoder, with a Python
``default`` for every UUID, datetime and lazy string. ``JSONRenderer`` here writes
the same bytes with orjson (compact separators, UTF-8, datetimes as RFC 3339 with
``Z`` for UTC, U+2028 and U+2029 escaped), and hands anything orjson cannot write
exactly as DRF would (pretty printing on request, integers beyond 64 bits, invalid
strings) to DRF's renderer.

Left different, out of the API's reach (it writes no floats, and every datetime in
UTC): a float may be spelled otherwise (``0.00006103515625`` for
``6.103515625e-05``, NaN as ``null`` where DRF fails), and an offset with seconds (a
zone's local mean time, before about 1900) is rounded to the minute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
# JavaScript's line terminators, escaped as DRF escapes them: JSON that is also a
# strict subset of JavaScript.
_LINE_SEPARATOR = "\u2028".encode()
_PARAGRAPH_SEPARATOR = "\u2029".encode()


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer, byte for byte, through orjson."""

    # Lazy translations, decimals, querysets and the like: as DRF's encoder writes
    # them (orjson calls this only for the types it does not know).
    _default = staticmethod(JSONEncoder().default)

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        if (
            self.get_indent(accepted_media_type or "", renderer_context or {})
            is not None
        ):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            content = orjson.dumps(data, default=self._default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if _LINE_SEPARATOR in content or _PARAGRAPH_SEPARATOR in content:
            content = content.replace(_LINE_SEPARATOR, b"\\u2028").replace(
                _PARAGRAPH_SEPARATOR, b"\\u2029"
            )
        return content
