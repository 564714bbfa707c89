"""Request bodies as lenient clients send them."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError

from api.parsers import StrictJSONParser


class LenientJSONParser(StrictJSONParser):
    """JSON, where a body of only whitespace counts as no body (``{}``).

    A body-less ``PATCH …/complete`` with ``Content-Type: application/json`` arrives
    with ``Content-Length: 0``, none at all, or a stray newline: all mean "nothing".
    """

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        raw = stream.read()
        if not raw.strip():
            return {}
        data = super().parse(io.BytesIO(raw), media_type, parser_context)
        if not isinstance(data, dict):
            raise ParseError("The body must be a JSON object.")
        return data
