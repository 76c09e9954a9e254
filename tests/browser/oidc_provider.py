"""A tiny OpenID Connect identity provider for browser tests, built on Authlib's JOSE code.

It serves the authorization-code flow that ``st.login`` speaks: discovery
(``/.well-known/openid-configuration``), ``/authorize`` (a page with one "Sign in as <user>"
button per test user, in place of a password form), ``/token`` (checks the client's secret, the
code and, when the client sent one, the PKCE verifier) and ``/jwks`` (the RS256 public key of
the ID tokens). Nothing else: no consent, no refresh tokens, no user info endpoint (Streamlit
reads the ID token's claims). Run it in a thread of the test process::

    with TestIdentityProvider({"ana": {"email": "ana@example.com"}}, client_id, secret) as idp:
        idp.issuer  # http://127.0.0.1:<port>
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from authlib.jose import JsonWebKey, jwt


class TestIdentityProvider:
    """An OIDC provider on 127.0.0.1 with fixed users ({subject: extra claims})."""

    __test__ = False  # not a pytest test class

    def __init__(self, users: dict[str, dict[str, Any]], client_id: str, client_secret: str) -> None:
        self.users, self.client_id, self.client_secret = users, client_id, client_secret
        self.key = JsonWebKey.generate_key("RSA", 2048, {"kid": "test-key", "alg": "RS256", "use": "sig"}, is_private=True)
        self.codes: dict[str, dict[str, Any]] = {}  # code -> {subject, nonce, redirect_uri, challenge}
        self.sign_ins: list[str] = []  # subjects, in the order they signed in
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TestIdentityProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "email", "profile"],
        }

    def id_token(self, subject: str, nonce: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject, "aud": self.client_id, "iat": now, "exp": now + 600,
                  **self.users[subject]}
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key).decode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: str, content_type: str = "application/json",
                      headers: dict[str, str] | None = None) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    return self._send(200, json.dumps(idp.metadata()))
                if url.path == "/jwks":
                    return self._send(200, json.dumps({"keys": [idp.key.as_dict(is_private=False)]}))
                if url.path == "/authorize":
                    if query.get("client_id") != idp.client_id or query.get("response_type") != "code":
                        return self._send(400, json.dumps({"error": "invalid_request"}))
                    subject = query.get("user")
                    if subject not in idp.users:  # the sign-in page: one button per user
                        buttons = "".join(
                            f'<p><a href="/authorize?{html.escape(urlencode({**query, "user": sub}))}">'
                            f"Sign in as {html.escape(sub)}</a></p>" for sub in idp.users
                        )
                        return self._send(200, f"<html><body><h1>Test identity provider</h1>{buttons}</body></html>",
                                          "text/html")
                    code = secrets.token_urlsafe(16)
                    idp.codes[code] = {"subject": subject, "nonce": query.get("nonce"),
                                       "redirect_uri": query["redirect_uri"],
                                       "challenge": query.get("code_challenge")}
                    idp.sign_ins.append(subject)
                    back = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
                    return self._send(302, "", headers={"Location": back})
                return self._send(404, json.dumps({"error": "not_found"}))

            def do_POST(self) -> None:  # noqa: N802
                if urlparse(self.path).path != "/token":
                    return self._send(404, json.dumps({"error": "not_found"}))
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                client_id, secret = form.get("client_id"), form.get("client_secret")
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
                if client_id != idp.client_id or secret != idp.client_secret:
                    return self._send(401, json.dumps({"error": "invalid_client"}))
                grant = idp.codes.pop(form.get("code", ""), None)  # a code works once
                if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
                    return self._send(400, json.dumps({"error": "invalid_grant"}))
                if grant["challenge"]:
                    digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                    if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                        return self._send(400, json.dumps({"error": "invalid_grant", "error_description": "PKCE"}))
                body = {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 600,
                        "id_token": idp.id_token(grant["subject"], grant["nonce"])}
                return self._send(200, json.dumps(body))

        return Handler
