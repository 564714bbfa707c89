"""Time-ordered UUIDs (version 7, RFC 9562) for primary keys.

Python 3.11 has no ``uuid.uuid7``. The generator keeps ids monotonic within a process
(RFC 9562 section 6.2, method 2: the random part is incremented within a millisecond),
so rows inserted one after another land at the end of the primary key index, and it
never runs ahead of the real clock by more than the rare counter overflow.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid

_RAND_BITS = 74  # 12 bits of rand_a + 62 bits of rand_b
_RAND_MAX = (1 << _RAND_BITS) - 1
_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def uuid7() -> uuid.UUID:
    """Return a new UUIDv7, greater than every one this process made before."""
    global _last_ms, _last_rand
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            # Leave headroom so increments within the millisecond rarely overflow.
            _last_rand = secrets.randbits(_RAND_BITS - 1)
        else:
            _last_rand += secrets.randbits(32) + 1
            if _last_rand > _RAND_MAX:
                _last_ms += 1
                _last_rand = secrets.randbits(_RAND_BITS - 1)
        ms, rand = _last_ms, _last_rand
    return uuid.UUID(int=_uuid7_int(ms, rand))


def uuid7_text(ms: int, rand: int) -> str:
    """The canonical text of the UUIDv7 for Unix time ``ms`` and 74 random bits.

    For bulk loads that choose the timestamp (a task's creation time) and the
    randomness (a seeded generator) themselves, without building ``UUID`` objects.
    """
    h = f"{_uuid7_int(ms, rand):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _uuid7_int(ms: int, rand: int) -> int:
    rand_a = (rand >> 62) & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76 | rand_a << 64
    value |= 0b10 << 62 | rand_b
    return value
