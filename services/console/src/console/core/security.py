"""The console's security rules: token check, same-origin check, response headers.

A session is a random id in an HttpOnly, SameSite=Strict cookie; every state change is a
POST carrying the session's CSRF token in a form field *and* coming from the console's own
origin. Either check alone refuses a forged form post; both are kept (defence in depth: the
Origin header is what a browser cannot be made to lie about, the token is what a page on
another site cannot read).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

SESSION_COOKIE = "console_session"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""No inline script or style, nothing from elsewhere, no framing, forms post only here."""
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # "no-referrer" would make the browser send "Origin: null" on our own form posts.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def token_matches(given: str, expected: str | None) -> bool:
    """Whether a login token is the configured one (constant time; never with none set)."""
    if not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def same_origin(origin: str | None, referer: str | None, host: str | None) -> bool:
    """Whether a POST comes from a page of this console.

    Browsers send ``Origin`` on every cross-site POST (and on same-origin POSTs too, except
    some old ones, which then send a Referer); a request with neither is refused.
    """
    if not host:
        return False
    source = origin if origin and origin != "null" else referer
    if not source:
        return False
    return urlsplit(source).netloc.lower() == host.lower()


def csrf_matches(expected: str, given: str | None) -> bool:
    """Whether the form's CSRF token is the session's."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
