"""A resource's path by its id, without walking the URLconf for every response.

``reverse()`` walks the URLconf's resolvers on each call (25 µs here), and every
create answers with a ``Location`` header: the same path each time but for the id.
``resource_path`` reverses a view once with a stand-in id (per script prefix,
URLconf and language, all that ``reverse()`` reads) and writes each id's text in
the stand-in's place. UUIDs only, and only where the route writes the stand-in as
its text (as the ``uuid`` converter does; nothing in it to quote): anything else is
reversed as before.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import translation

# Digits and letters of either case: a route that writes ids otherwise than as
# their text (in capitals, without dashes) does not write this one as its text.
_STAND_IN = uuid.UUID("0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0")
_STAND_IN_TEXT = str(_STAND_IN)


def resource_path(viewname: str, pk: Any) -> str:
    """``reverse(viewname, args=[pk])``."""
    if type(pk) is not uuid.UUID:
        return reverse(viewname, args=[pk])
    urlconf = get_urlconf() or settings.ROOT_URLCONF
    parts = _parts(viewname, get_script_prefix(), urlconf, translation.get_language())
    if parts is None:
        return reverse(viewname, args=[pk])
    head, tail = parts
    return f"{head}{pk}{tail}"


@functools.lru_cache(maxsize=64)
def _parts(
    viewname: str, prefix: str, urlconf: Any, language: str | None
) -> tuple[str, str] | None:
    """The view's path around its id; None if the stand-in is not there once."""
    path = reverse(viewname, args=[_STAND_IN], urlconf=urlconf)
    head, found, tail = path.partition(_STAND_IN_TEXT)
    if not found or _STAND_IN_TEXT in tail:
        return None
    return head, tail
