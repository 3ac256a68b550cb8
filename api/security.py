"""Who is calling and what they may do: JWT bearer tokens, service-account API keys and
per-user rate limits. The rules themselves live in the engine: users, roles, password
checks and sign-in throttling in `engine.auth`, row-level PIN scoping in
`engine.warehouse.scoped` (through `engine.auth.scoped_warehouse`).

- `POST /v1/auth/token` -> `engine.auth.authenticate` -> a short-lived HS256 JWT
  (`sub`, `role`, `auth_time`, `iat`, `exp`). Every request re-reads the user through
  `engine.auth_sessions.resume_session`, so a disabled account, a new role, new PIN codes
  or a password reset take effect on the next request, as in the app. Failed sign-ins
  lock a username for the calling address only (`engine.auth.authenticate(client=...)`).
- `X-API-Key: mpk_<key_id>_<secret>`: the key's SHA-256 is compared (constant time) with
  `api_keys.key_hash`; the key acts as the user it was issued to (a service account).
- Rate limits: a sliding one-minute window per user (or per client address before sign-in).
  Requests that fail authentication (no, a wrong, an expired or a revoked token or key)
  count per client address: past MICROPULSE_API_UNAUTH_RATE_LIMIT (default 30) in a
  minute, every request from that address gets 429 with Retry-After, before any
  credential is looked at, until the oldest failure is a minute old.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

import jwt
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from engine import auth, auth_sessions
from engine.warehouse import users

log = logging.getLogger("micropulse.api")

JWT_ALGORITHM = "HS256"
KEY_PREFIX = "mpk"


def _env_int(name: str, default: int, low: int = 1) -> int:
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        log.warning("%s is not a whole number; using %s", name, default)
        return default
    return max(low, value)


@dataclass(frozen=True)
class Settings:
    jwt_secret: str
    token_minutes: int = 30
    rate_per_minute: int = 100
    batch_rate_per_minute: int = 10
    max_upload_mb: int = 512
    unauth_rate_per_minute: int = 30

    @classmethod
    def from_env(cls) -> "Settings":
        secret = os.environ.get("MICROPULSE_JWT_SECRET", "")
        if not secret:
            secret = secrets.token_urlsafe(48)
            log.warning("MICROPULSE_JWT_SECRET is not set: using a random secret for this "
                        "process, so tokens stop working when the API restarts.")
        return cls(jwt_secret=secret,
                   token_minutes=_env_int("MICROPULSE_API_TOKEN_MINUTES", 30),
                   rate_per_minute=_env_int("MICROPULSE_API_RATE_LIMIT", 100),
                   batch_rate_per_minute=_env_int("MICROPULSE_API_BATCH_RATE_LIMIT", 10),
                   max_upload_mb=_env_int("MICROPULSE_API_MAX_UPLOAD_MB", 512),
                   unauth_rate_per_minute=_env_int("MICROPULSE_API_UNAUTH_RATE_LIMIT", 30))


# ---- tokens -----------------------------------------------------------------------------------
def issue_token(settings: Settings, user: auth.User, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    exp = now + settings.token_minutes * 60
    claims = {"sub": user.username, "role": user.role, "auth_time": now, "iat": int(now),
              "exp": int(exp), "typ": "access"}
    token = jwt.encode(claims, settings.jwt_secret, algorithm=JWT_ALGORITHM)
    return {"access_token": token, "token_type": "bearer",
            "expires_in": int(exp) - int(now), "username": user.username, "role": user.role,
            "pin_codes": list(user.pin_codes)}


def _unauthorized(message: str, code: str = "unauthorized") -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": "Bearer"})


def user_from_token(wh, settings: Settings, token: str) -> auth.User:
    try:
        claims = jwt.decode(token, settings.jwt_secret, algorithms=[JWT_ALGORITHM],
                            options={"require": ["sub", "exp", "iat"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("Your token has expired; request a new one at /v1/auth/token.",
                            "token_expired") from None
    except jwt.PyJWTError:
        raise _unauthorized("The bearer token is not valid; request a new one at "
                            "/v1/auth/token.", "invalid_token") from None
    if claims.get("typ") != "access":
        raise _unauthorized("The bearer token is not an access token.", "invalid_token")
    session = {"username": str(claims["sub"]),
               "signed_in_at": float(claims.get("auth_time", claims["iat"])),
               "last_seen": time.time()}
    try:
        return auth_sessions.resume_session(wh, session, time.time())
    except auth.SessionEnded as exc:
        raise _unauthorized(str(exc), "session_ended") from None


# ---- API keys ---------------------------------------------------------------------------------
def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_api_key(wh, actor: auth.User, username: str) -> dict:
    """Issue a key for an existing user (admins only). The plain key is returned once."""
    auth.require(actor, "manage_users")
    row = users.get_user_row(wh, auth.normalise_username(username))
    if row is None:
        raise ApiError(404, "user_not_found", f"There is no user called '{username}'.")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    users.insert_api_key(wh, key_id, _hash_secret(secret), row["username"], actor.username)
    return {"key_id": key_id, "api_key": f"{KEY_PREFIX}_{key_id}_{secret}",
            "username": row["username"], "role": row["role"]}


def revoke_api_key(wh, actor: auth.User, key_id: str) -> None:
    auth.require(actor, "manage_users")
    if not users.revoke_api_key(wh, key_id, actor.username):
        raise ApiError(404, "api_key_not_found", f"There is no API key '{key_id}'.")


def user_from_api_key(wh, key: str) -> auth.User:
    parts = key.strip().split("_", 2)
    bad = _unauthorized("The API key is not valid (or was revoked).", "invalid_api_key")
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise bad
    row = users.get_api_key(wh, parts[1])
    if row is None or row["revoked"] or not hmac.compare_digest(
            str(row["key_hash"]), _hash_secret(parts[2])):
        raise bad
    now = time.time()
    try:  # re-read the account exactly as a signed-in session is re-read
        return auth_sessions.resume_session(wh, {"username": row["username"],
                                                 "signed_in_at": now, "last_seen": now}, now)
    except auth.SessionEnded:
        raise _unauthorized("The account behind this API key is no longer active.",
                            "account_inactive") from None


# ---- rate limiting ----------------------------------------------------------------------------
class RateLimiter:
    """Sliding-window limit: at most `limit` hits per `window` seconds per key."""

    SWEEP_AT = 10_000   # keys kept before idle ones are dropped (bounded memory)

    def __init__(self, window: float = 60.0):
        self.window = window
        self._hits: dict[tuple[str, str], deque] = {}
        self._lock = threading.Lock()

    def _queue(self, bucket: str, key: str, now: float) -> deque:
        if len(self._hits) >= self.SWEEP_AT:
            idle = [k for k, q in self._hits.items() if not q or q[-1] <= now - self.window]
            for k in idle:
                del self._hits[k]
        q = self._hits.setdefault((bucket, key), deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def hit(self, bucket: str, key: str, limit: int, now: float | None = None) -> float | None:
        """Record a hit; None when allowed, else seconds until the next one is."""
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._queue(bucket, key, now)
            if len(q) >= limit:
                return q[0] + self.window - now
            q.append(now)
            return None

    def wait(self, bucket: str, key: str, limit: int, now: float | None = None) -> float | None:
        """Without recording anything: None while `key` has fewer than `limit` hits in the
        window, else seconds until it has."""
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._queue(bucket, key, now)
            return q[0] + self.window - now if len(q) >= limit else None

    def check(self, bucket: str, key: str, limit: int, what: str) -> None:
        raise_if_waiting(self.hit(bucket, key, limit), limit, f"Too many {what}")


def raise_if_waiting(wait: float | None, limit: int, what: str) -> None:
    """ApiError 429 (rate_limited, with the seconds to wait) when a rate limiter says the
    caller must wait (`wait` is not None)."""
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        raise ApiError(429, "rate_limited",
                       f"{what}: the limit is {limit} per minute. Try again in "
                       f"{seconds} s.", headers={"Retry-After": str(seconds)})


# ---- FastAPI dependencies ---------------------------------------------------------------------
bearer_scheme = HTTPBearer(auto_error=False, description="JWT from POST /v1/auth/token")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="Service-account key (mpk_...)")


@dataclass(frozen=True)
class Caller:
    """The authenticated user and the warehouse handle their requests must use."""

    user: auth.User
    wh: object          # Warehouse, or ScopedWarehouse for store users
    via: str            # "token" | "api_key"
    cached: object      # ApiState.cached(key, compute): results keyed on data version

    def require(self, action: str, page: str | None = None) -> None:
        """The engine's rules: `can(user, action)`, and the app's page rule when the
        endpoint serves what a page shows."""
        auth.require(self.user, action)
        if page is not None and not auth.can_open_page(self.user, page):
            raise ApiError(403, "forbidden",
                           auth.page_denied_message(self.user, page).replace(
                               "open the", "use the") + " The API follows the same rule.")

    def check_pin(self, pin_code: str | None) -> None:
        """403 when a store user names a PIN code outside their scope."""
        if pin_code is None or not self.user.is_scoped:
            return
        if pin_code not in self.user.pin_codes:
            raise ApiError(403, "pin_out_of_scope",
                           f"PIN code {pin_code} is outside your scope: your account "
                           f"({self.user.role_label}) can see PIN codes "
                           f"{', '.join(self.user.pin_codes)} only.",
                           details={"pin_code": pin_code,
                                    "allowed": list(self.user.pin_codes)})


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _authenticate(wh, settings: Settings, creds: HTTPAuthorizationCredentials | None,
                  api_key: str | None) -> tuple[auth.User, str]:
    if api_key:
        return user_from_api_key(wh, api_key), "api_key"
    if creds is not None and creds.scheme.lower() == "bearer" and creds.credentials:
        return user_from_token(wh, settings, creds.credentials), "token"
    raise _unauthorized("Sign in first: send 'Authorization: Bearer <token>' (from POST "
                        "/v1/auth/token) or an 'X-API-Key' header.", "not_authenticated")


def current_caller(request: Request,
                   creds: HTTPAuthorizationCredentials | None = Depends(bearer_scheme),
                   api_key: str | None = Depends(api_key_scheme)) -> Caller:
    """The authenticated caller. An address that failed authentication more than
    `unauth_rate_per_minute` times in the last minute gets 429 (with Retry-After) before
    its credentials are even looked at; each 401 counts one failure for its address."""
    state = request.app.state.micropulse
    address, limit = client_key(request), state.settings.unauth_rate_per_minute
    raise_if_waiting(state.limiter.wait("unauth", address, limit), limit,
                      "Too many requests without valid credentials from your address")
    wh = state.warehouse()
    try:
        user, via = _authenticate(wh, state.settings, creds, api_key)
    except ApiError as exc:
        if exc.status == 401:
            state.limiter.hit("unauth", address, limit)
        raise
    request.scope.setdefault("state", {})["user"] = user.username
    state.limiter.check("all", user.username, state.settings.rate_per_minute, "requests")
    return Caller(user=user, wh=state.scoped(user), via=via, cached=state.cached)


def batch_limit(request: Request, caller: Caller = Depends(current_caller)) -> Caller:
    state = request.app.state.micropulse
    state.limiter.check("batch", caller.user.username, state.settings.batch_rate_per_minute,
                        "batch requests")
    return caller
