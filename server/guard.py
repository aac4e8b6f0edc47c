"""The ASGI layer in front of every route: API key, rate limit, injected faults, ``X-Api-Version``.

A plain ASGI middleware rather than a FastAPI dependency so that it also covers unknown paths and
runs before a request body is read. Whenever it refuses a request it first reads and discards the
body (up to a bound), so a client in the middle of a large upload sees the answer instead of a reset
connection.

Paths under ``presigned_prefix`` (multipart chunk URLs) carry a signature instead of a key, which
their route checks; they skip the key check and the rate limit (an object store's PUTs are not API
calls) but not injected faults.
"""

from __future__ import annotations

import hmac
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelscribe.server.config import API_VERSION
from reelscribe.server.errors import error_response
from reelscribe.server.faults import FaultInjector
from reelscribe.server.ratelimit import RateLimiter, key_fingerprint, retry_after

log = logging.getLogger(__name__)


def key_is_valid(candidate: str | None, keys: tuple[str, ...]) -> bool:
    """Constant-time comparison against every configured key (no early exit on a match)."""
    if not candidate:
        return False
    given = candidate.encode("utf-8")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key.encode("utf-8"))
    return matched


async def _drain(receive: Receive, limit: int) -> None:
    """Read and drop the request body, at most ``limit`` bytes."""
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        api_keys: tuple[str, ...],
        limiter: RateLimiter | None,
        faults: FaultInjector,
        drain_limit: int,
        presigned_prefix: str | None = None,
    ) -> None:
        self.app = app
        self.api_keys = api_keys
        self.limiter = limiter
        self.faults = faults
        self.drain_limit = drain_limit
        self.presigned_prefix = presigned_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = {"X-Api-Version": "1.2" if scope["path"].startswith("/v1.2/") else API_VERSION}
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        api_key = headers.get("x-api-key")
        presigned = self.presigned_prefix is not None and scope["path"].startswith(self.presigned_prefix)
        if not presigned and not key_is_valid(api_key, self.api_keys):
            await self._refuse(scope, receive, send, "api_key_invalid", "The API key is missing or not valid.", extra)
            return
        now = time.time()
        if self.limiter is not None and not presigned:
            decision = self.limiter.hit(key_fingerprint(api_key or ""))
            extra.update(decision.headers(now))
            if not decision.allowed:
                message = f"You have exceeded the rate limit ({self.limiter.limit}/{self.limiter.window:g}s). Please try again later after {extra['Retry-After']} s."
                await self._refuse(scope, receive, send, "too_many_requests", message, extra)
                return
        fault = self.faults.draw()
        if fault is not None:
            await self._inject(scope, receive, send, fault.status, extra, now)
            return
        await self.app(scope, receive, self._with_headers(send, extra))

    async def _inject(self, scope: Scope, receive: Receive, send: Send, status: int, extra: dict[str, str], now: float) -> None:
        if status == 429:
            if "Retry-After" not in extra:
                limit = self.limiter.limit if self.limiter is not None else 0
                extra.update(
                    {
                        "X-Ratelimit-Limit": str(limit),
                        "X-Ratelimit-Remaining": "0",
                        "X-Ratelimit-Used": str(limit),
                        "X-Ratelimit-Reset": str(int(now) + 1),
                    }
                )
                extra["Retry-After"] = str(retry_after(int(now) + 1, now))
            await self._refuse(scope, receive, send, "too_many_requests", "Injected fault: rate limited.", extra)
            return
        code = "service_unavailable" if status == 503 else "internal_server_error"
        await self._refuse(scope, receive, send, code, f"Injected fault: HTTP {status}.", extra, status=status)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        code: str,
        message: str,
        headers: dict[str, str],
        *,
        status: int | None = None,
    ) -> None:
        await _drain(receive, self.drain_limit)
        await error_response(code, message, status=status, headers=headers)(scope, receive, send)

    @staticmethod
    def _with_headers(send: Send, extra: dict[str, str]) -> Send:
        encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()]

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *encoded]}
            await send(message)

        return wrapped
