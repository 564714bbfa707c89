"""A stand-in Better Auth issuer for tests: keys made here, tokens as the plugin mints.

The tokens have the jwt plugin's shape (header ``{alg, kid}``, the session's user
object as claims, ``sub``/``iat``/``exp``/``iss``/``aud``), signed with keys generated
for the test run. The real Node server (tests/support/betterauth_node.py) is for the
end-to-end tests; these are for everything that must not need Node.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "http://localhost:3000"
HS_SECRET = "better-auth-test-secret-" + "s" * 24
_PRIVATE_TYPES = {"EdDSA": "okp", "ES256": "ec", "RS256": "rsa"}


@dataclass
class SigningKey:
    """One key pair of the JWKS, as the plugin stores it: an id and an algorithm."""

    alg: str
    kid: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    private: Any = None

    def __post_init__(self) -> None:
        if self.private is None:
            if self.alg == "EdDSA":
                self.private = ed25519.Ed25519PrivateKey.generate()
            elif self.alg == "ES256":
                self.private = ec.generate_private_key(ec.SECP256R1())
            elif self.alg == "RS256":
                self.private = rsa.generate_private_key(
                    public_exponent=65537, key_size=2048
                )
            else:  # pragma: no cover - a test asking for an unknown algorithm
                raise ValueError(self.alg)

    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        algorithm: Any
        if self.alg == "EdDSA":
            algorithm = OKPAlgorithm
        elif self.alg == "ES256":
            algorithm = ECAlgorithm
        else:
            algorithm = RSAAlgorithm
        jwk: dict[str, Any] = algorithm.to_jwk(public, as_dict=True)
        # Better Auth's /jwks: alg, crv (for OKP/EC), kty, x[, y], kid; no "use".
        jwk.update(alg=self.alg, kid=self.kid)
        return jwk


@dataclass
class Issuer:
    """A Better Auth server's signing side: a key set and the plugin's claims."""

    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey("EdDSA")])
    issuer: str = ISSUER
    audience: str | list[str] = ISSUER

    @property
    def current(self) -> SigningKey:
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.keys]}

    def jwks_json(self) -> str:
        return json.dumps(self.jwks())

    def rotate(self, alg: str = "EdDSA") -> SigningKey:
        """A new signing key; the old ones stay in the JWKS (the grace period)."""
        key = SigningKey(alg)
        self.keys.append(key)
        return key

    def claims(self, subject: str, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "id": subject,
            "name": "Ada Lovelace",
            "email": f"{subject.lower()}@example.com",
            "emailVerified": False,
            "image": None,
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": "2026-01-01T00:00:00.000Z",
            "sub": subject,
            "iat": now,
            "exp": now + 15 * 60,
            "iss": self.issuer,
            "aud": self.audience,
        }
        claims.update(extra)
        return {k: v for k, v in claims.items() if v is not _DROP}

    def token(
        self,
        subject: str = "baUser0000000000000000000000001",
        *,
        key: SigningKey | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A token as the jwt plugin signs it (pass ``claim=DROP`` to leave one out)."""
        key = key or self.current
        header = {"kid": key.kid, **(headers or {})}
        return jwt.encode(
            self.claims(subject, **claims),
            key.private,
            algorithm=key.alg,
            headers=header,
        )

    def hs256_token(self, subject: str, secret: str = HS_SECRET, **claims: Any) -> str:
        """Front end A's token: HS256, the shared secret, ``{sub,iat,exp,iss,aud}``."""
        now = int(time.time())
        payload = {
            "sub": subject,
            "iat": now,
            "exp": now + 7 * 24 * 3600,
            "iss": self.issuer,
            "aud": self.audience,
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not _DROP}
        return jwt.encode(payload, secret, algorithm="HS256")


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


_DROP: Any = _Drop()
DROP: Any = _DROP


class JWKSServer:
    """A real HTTP server for a JWKS document that counts its fetches.

    ``document`` may be replaced at any time; ``up = False`` makes it answer 503,
    and ``stop()`` closes the port (a refused connection).
    """

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.fetches = 0
        self.up = True
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.fetches += 1
                    body = json.dumps(server.document).encode()
                    up = server.up
                self.send_response(200 if up else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if up else 0))
                self.end_headers()
                if up:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/api/auth/jwks"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def jwks_server(issuer: Issuer) -> Iterator[JWKSServer]:
    server = JWKSServer(issuer.jwks())
    try:
        yield server
    finally:
        server.stop()
