"""Better Auth's public keys: from a fixed JWKS URL, shared by every worker.

The URL is configuration (``BETTER_AUTH_JWKS_URL``, by default
``<BETTER_AUTH_URL>/api/auth/jwks``) and never comes from a token. The fetched
document lives in Django's cache (Redis when configured), so one worker's fetch
serves them all:

- a known ``kid`` is answered from the cache; after ``BETTER_AUTH_JWKS_CACHE_SECONDS``
  the document is refetched, and a key that left it (past Better Auth's grace period)
  stops working;
- an unknown ``kid`` triggers a refetch, at most one per
  ``BETTER_AUTH_JWKS_MIN_REFRESH_SECONDS`` across all workers (a gate taken with
  ``cache.add``): a flood of forged ``kid`` values costs one fetch, not one each;
- a fetch that fails or times out (``BETTER_AUTH_JWKS_TIMEOUT_SECONDS``) keeps the
  keys already known;
- with no keys at all, :class:`KeysUnavailable` (a 503, never a 401: a 401 signs the
  user out of the front end).

``BETTER_AUTH_JWKS`` (inline JSON or a file path) replaces the URL for offline
deployments and tests; it is read as given and never fetched.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWTError

logger = logging.getLogger(__name__)

# A JWKS of a few keys is a few hundred bytes; anything near this is not one.
MAX_JWKS_BYTES = 256 * 1024
USER_AGENT = "taskapi-jwks/1"


class KeysUnavailable(Exception):
    """No key is known and none could be fetched: retry after ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("Better Auth's signing keys are unavailable.")
        self.retry_after = retry_after


class UnknownKey(Exception):
    """The JWKS has no key with that ``kid`` (after the allowed refetch)."""


class FetchFailed(Exception):
    """The JWKS URL did not give a usable key set."""


@dataclass(frozen=True)
class KeySource:
    """Where the keys come from and how long they are trusted, from the settings."""

    url: str
    inline: str
    cache_seconds: int
    min_refresh_seconds: int
    timeout_seconds: int

    @classmethod
    def from_settings(cls) -> KeySource:
        return cls(
            url=settings.BETTER_AUTH_JWKS_URL,
            inline=settings.BETTER_AUTH_JWKS,
            cache_seconds=settings.BETTER_AUTH_JWKS_CACHE_SECONDS,
            min_refresh_seconds=max(1, settings.BETTER_AUTH_JWKS_MIN_REFRESH_SECONDS),
            timeout_seconds=settings.BETTER_AUTH_JWKS_TIMEOUT_SECONDS,
        )

    @property
    def cache_key(self) -> str:
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        return f"betterauth:jwks:{digest}"

    def gate_key(self, reason: str) -> str:
        return f"{self.cache_key}:gate:{reason}"


# Parsing keys costs more than a dictionary lookup: each worker keeps the parsed
# form of the few documents it has seen, keyed by their content.
_parsed: dict[str, PyJWKSet] = {}


def _key_set(document: dict[str, Any]) -> PyJWKSet:
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    found = _parsed.get(digest)
    if found is None:
        found = PyJWKSet.from_dict(document)
        if len(_parsed) >= 8:
            _parsed.clear()
        _parsed[digest] = found
    return found


def _pick(keys: PyJWKSet, kid: str) -> PyJWK:
    for key in keys.keys:
        if key.key_id == kid:
            return key
    raise UnknownKey(kid)


def _inline_set(text: str) -> PyJWKSet:
    value = text.strip()
    if not value.startswith("{"):
        value = Path(value).read_text(encoding="utf-8")
    return _key_set(json.loads(value))


def fetch_jwks(url: str, timeout: float) -> dict[str, Any]:
    """GET the JWKS document; :class:`FetchFailed` unless it holds a usable key."""
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise FetchFailed(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, headers={"Accept": "application/json", "User-Agent": USER_AGENT}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(MAX_JWKS_BYTES + 1)
    except (OSError, ValueError) as error:  # URLError, timeouts, refused, bad URL
        raise FetchFailed(f"{type(error).__name__}: {error}") from None
    if len(body) > MAX_JWKS_BYTES:
        raise FetchFailed("the JWKS document is too large")
    try:
        document = json.loads(body)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise FetchFailed("not a JWKS document")
        _key_set(document)
    except (ValueError, PyJWTError) as error:
        raise FetchFailed(f"unusable JWKS: {error}") from None
    return document


def _cached(source: KeySource) -> dict[str, Any] | None:
    try:
        entry = cache.get(source.cache_key)
    except Exception:  # the shared cache is down: act as if it were empty
        logger.warning("the cache is unavailable; JWKS not read from it")
        return None
    return entry if isinstance(entry, dict) else None


def _may_fetch(source: KeySource, reason: str) -> bool:
    """True for the one caller per interval and reason (across workers) that fetches.

    Two reasons, two gates: "due" (no keys yet, or stale ones) and "unknown" (a
    ``kid`` not in the set). A scheduled fetch must not close the door on a key
    Better Auth minted a second later; a flood of forged ``kid`` values still costs
    one fetch per interval.
    """
    try:
        gate = source.gate_key(reason)
        return bool(cache.add(gate, 1, timeout=source.min_refresh_seconds))
    except Exception:
        logger.warning("the cache is unavailable; no JWKS refetch")
        return False


def _refresh(source: KeySource) -> dict[str, Any] | None:
    try:
        document = fetch_jwks(source.url, source.timeout_seconds)
    except FetchFailed as error:
        logger.warning("JWKS fetch from %s failed: %s", source.url, error)
        return None
    entry = {"jwks": document, "fetched_at": time.time()}
    try:
        # Kept past cache_seconds on purpose: stale keys serve while fetches fail.
        cache.set(source.cache_key, entry, timeout=None)
    except Exception:
        logger.warning("the cache is unavailable; JWKS not stored")
    return entry


def signing_key(kid: str) -> PyJWK:
    """The public key named ``kid``.

    Raises :class:`UnknownKey` when the key set does not have it, and
    :class:`KeysUnavailable` when no key set is known at all.
    """
    source = KeySource.from_settings()
    if source.inline:
        try:
            keys = _inline_set(source.inline)
        except (OSError, ValueError, PyJWTError):
            logger.exception("BETTER_AUTH_JWKS is not a usable JWKS document")
            raise KeysUnavailable(retry_after=source.min_refresh_seconds) from None
        return _pick(keys, kid)
    entry = _cached(source)
    reason = "due"
    if entry is not None:
        keys = _key_set(entry["jwks"])
        fresh = time.time() - float(entry["fetched_at"]) < source.cache_seconds
        known = any(key.key_id == kid for key in keys.keys)
        if fresh and known:
            return _pick(keys, kid)
        if fresh:
            reason = "unknown"
    if source.url and _may_fetch(source, reason):
        entry = _refresh(source) or entry
    if entry is None:
        raise KeysUnavailable(retry_after=source.min_refresh_seconds)
    return _pick(_key_set(entry["jwks"]), kid)
