"""``Idempotency-Key`` on the POSTs that create or change something.

As the IETF httpapi draft (draft-ietf-httpapi-idempotency-key-header) describes: the
first request with a key runs; a repeat with the same key and the same request
(method, path and JSON body) gets the stored answer again (status, body, ``Location``
and ``ETag``) without running; the same key with another request is a 422; a repeat
while the first still runs is a 409. A 5xx is not stored (the key may be retried),
nor is anything the request changed. Keys are scoped per user (per client address
where nobody is signed in) and live ``API_IDEMPOTENCY_KEY_TTL_HOURS`` (24) hours.

One transaction holds it all: on PostgreSQL a transaction-level advisory lock on
the (scope, key) pair tells a concurrent repeat that the first is running (409),
then the request runs and its answer is stored, and both commit together or not at
all. Nothing outlives the transaction (PgBouncer's transaction mode is fine); a
crash leaves no half-written record behind. SQLite runs one writer at a time and
needs no lock; the unique (scope, key) constraint backs both.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from api.models import IdempotencyRecord
from api.principals import checked
from api.renderers import JSONRenderer

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Headers of the answer that a replay repeats.
STORED_HEADERS = ("Location", "ETag")
# Visible ASCII, as an sf-string holds it, at most the column's length; no space at
# either end (HTTP strips it from a header value).
KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]{0,253}[\x21-\x7e])?$"
_VALID_KEY = re.compile(KEY_PATTERN)


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = (
        "This Idempotency-Key was already used for a different request; "
        "use a new key for a new request."
    )
    default_code = "idempotency_key_reused"


class IdempotencyKeyInFlight(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = (
        "A request with this Idempotency-Key is still being processed; "
        "retry shortly to get its answer."
    )
    default_code = "idempotency_key_in_flight"


IDEMPOTENCY_KEY = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    pattern=KEY_PATTERN,
    description=(
        "Up to 255 visible ASCII characters, unique per request (a UUID). A repeat "
        "with the same key and request replays the first answer (status, body, "
        "Location, ETag; header Idempotent-Replayed: true) without acting again; "
        "the same key with another request is 422; a repeat while the first still "
        "runs is 409. Keys are per user and kept 24 hours; a 5xx is not kept."
    ),
)


def lifetime() -> datetime.timedelta:
    return datetime.timedelta(hours=settings.API_IDEMPOTENCY_KEY_TTL_HOURS)


def user_scope(view: Any, request: Request) -> str:
    return f"user:{request.user.pk}"


def client_scope(view: Any, request: Request) -> str:
    """For public routes: the client's address, as the throttles see it."""
    return f"client:{BaseThrottle().get_ident(request)}"


def fingerprint(request: Request) -> str:
    """A keyed digest of the request: bodies may hold passwords (register)."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    message = f"{request.method}\n{request.get_full_path()}\n{body}"
    return salted_hmac(
        "api.idempotency.fingerprint", message, algorithm="sha256"
    ).hexdigest()


def _valid_key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _VALID_KEY.fullmatch(key):
        raise exceptions.ValidationError(
            {HEADER: ["Must be 1 to 255 visible ASCII characters."]}, code="invalid"
        )
    return key


def _lock(scope: str, key: str) -> bool:
    """Whether this transaction holds the (scope, key) pair (False: another does)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"idempotency\n{scope}\n{key}"],
        )
        (locked,) = cursor.fetchone()
    return bool(locked)


def _as_sent(data: Any) -> Any:
    """A response's data as its JSON carries it, for the record's JSON column: ids
    and times as text, as the API's renderer writes them (views may answer with
    ``UUID`` and ``datetime`` objects, todos.serializers.documents)."""
    if data is None:
        return None
    return json.loads(JSONRenderer().render(data))


def _replay(record: IdempotencyRecord) -> Response:
    headers = {name: value for name, value in record.headers.items() if name != "type"}
    headers[REPLAYED_HEADER] = "true"
    return Response(
        record.body,
        status=record.status,
        headers=headers,
        content_type=record.headers.get("type"),
    )


def idempotent(
    scope: Callable[[Any, Request], str] = user_scope,
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Make a view handler honour ``Idempotency-Key`` (see the module docstring).

    Wraps the handler, so authentication, permissions and throttles have run: a
    401 or 429 is never stored, and the key is the signed-in user's.
    """

    def decorate(handler: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(handler)
        def run(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            key = _valid_key(request)
            if key is None:
                return handler(view, request, *args, **kwargs)
            # A record is kept under the user's id: the user is checked before it
            # is read or written, not after (a folded write's check).
            checked(request.user)
            owner = scope(view, request)
            digest = fingerprint(request)
            with transaction.atomic():
                if not _lock(owner, key):
                    raise IdempotencyKeyInFlight
                record = IdempotencyRecord.objects.filter(scope=owner, key=key).first()
                if record is not None:
                    if record.created_at >= timezone.now() - lifetime():
                        if record.fingerprint != digest:
                            raise IdempotencyKeyReused
                        return _replay(record)
                    # An expired record of the key, not purged yet, makes way.
                    record.delete()
                try:
                    with transaction.atomic():
                        response = handler(view, request, *args, **kwargs)
                except Exception as exc:
                    # A problem answer (400, 404, 412 …) is an answer to store;
                    # anything else propagates and the transaction rolls back.
                    response = view.handle_exception(exc)
                if response.status_code >= 500:
                    transaction.set_rollback(True)
                    return response
                IdempotencyRecord.objects.create(
                    scope=owner,
                    key=key,
                    fingerprint=digest,
                    status=response.status_code,
                    body=_as_sent(response.data),
                    headers={
                        **{h: response[h] for h in STORED_HEADERS if h in response},
                        "type": response.content_type,
                    },
                )
                return response

        return run

    return decorate


def idempotency_records_purge(*, before: datetime.datetime) -> int:
    """Delete the records created before ``before``; return how many."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=before).delete()
    return deleted
