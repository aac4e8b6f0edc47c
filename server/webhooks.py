"""Webhooks as Twelve Labs sends them: ``index.task.ready`` / ``index.task.failed``, signed, retried.

When a task (tasks path) or an indexed asset (assets path) becomes ``ready`` or ``failed``, the
workers report a :class:`Completion`; the :class:`WebhookSender` turns it into the documented payload
(``id``, ``created_at``, ``type``, ``data{id, metadata{duration}, status, models, tags}``) and POSTs
it with ``TL-Signature: t=<unix>,v1=<hex HMAC-SHA256 over "{t}.{raw body}">``. A non-2xx answer (or
no answer) is retried with doubling backoff, at most ``webhook_attempts`` times, always with the same
event ``id`` and body (each attempt is signed afresh, so its timestamp is current).

The outbox is in memory: a restart loses the events not yet delivered (the bounded wait's last
poll is the pipeline's safety net for exactly that). The URL obeys the ``video_url`` address rules:
a loopback or private receiver needs ``--allow-url-network``.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from reelscribe.server.urlfetch import UrlRefused, UrlRules, check_address, post_checked

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "TL-Signature"
MAX_BACKOFF = 60.0
TIMEOUT = 10.0


class WebhookUrlRefused(ValueError):
    """The webhook URL is not one this server may call; the message says why."""


@dataclass(frozen=True)
class Completion:
    """A task or indexed asset reached a final status; ``id`` is what the webhook's ``data.id`` names."""

    id: str
    index_id: str
    status: str
    duration: float | None


CompletionHook = Callable[[Completion], None]


def no_webhook(_: Completion) -> None:
    """The hook when no ``--webhook-url`` is set."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``TL-Signature`` value for ``body`` signed at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def payload_models(index_models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The index's models as the webhook names them (``name``/``options``, not ``model_name``/``model_options``)."""
    return [{"name": m.get("model_name"), "options": list(m.get("model_options", []))} for m in index_models]


def event_body(event_id: str, completion: Completion, models: list[dict[str, Any]], created_at: datetime) -> bytes:
    """The documented payload, serialised once: every attempt sends exactly these bytes."""
    event = {
        "id": event_id,
        "created_at": created_at.isoformat(),
        "type": f"index.task.{completion.status}",
        "data": {
            "id": completion.id,
            "metadata": {"duration": completion.duration},
            "status": completion.status,
            "models": models,
            "tags": [],
        },
    }
    return json.dumps(event, separators=(",", ":")).encode()


def backoff(attempt: int, base: float) -> float:
    """Seconds before attempt ``attempt + 1`` (``attempt`` ≥ 1): base, 2·base, 4·base … at most a minute."""
    return min(base * 2 ** (attempt - 1), MAX_BACKOFF)


def check_webhook_url(url: str, rules: UrlRules) -> None:
    """Refuse a non-http(s) URL or one whose host resolves to an address the rules do not allow."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme.lower() not in ("http", "https") or not parsed.hostname:
        raise WebhookUrlRefused("the webhook URL must be an http or https URL with a host")
    try:
        check_address(url, rules)
    except UrlRefused as exc:
        raise WebhookUrlRefused(str(exc)) from None
    except OSError as exc:
        raise WebhookUrlRefused(f"its host does not resolve: {exc}") from None


@dataclass(order=True)
class _Pending:
    due: float
    seq: int
    event_id: str = ""
    body: bytes = b""
    attempt: int = 1


class WebhookSender:
    """An in-memory outbox and one delivery thread; :meth:`completed` is the workers' hook."""

    def __init__(
        self,
        url: str,
        secret: str,
        rules: UrlRules,
        *,
        models_of: Callable[[str], list[dict[str, Any]]],
        attempts: int,
        base_backoff: float,
    ) -> None:
        check_webhook_url(url, rules)
        self._url = url
        self._secret = secret
        self._rules = rules
        self._models_of = models_of
        self._attempts = attempts
        self._base_backoff = base_backoff
        self._outbox: list[_Pending] = []
        self._seq = itertools.count()
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join(timeout)
        if self._outbox:
            log.warning("%d webhook event(s) not delivered before shutdown are dropped", len(self._outbox))

    def completed(self, completion: Completion) -> None:
        event_id = "whe_" + secrets.token_hex(16)
        body = event_body(event_id, completion, payload_models(self._models_of(completion.index_id)), datetime.now(timezone.utc))
        self._push(_Pending(time.monotonic(), next(self._seq), event_id, body, 1))

    def _push(self, item: _Pending) -> None:
        with self._changed:
            heapq.heappush(self._outbox, item)
            self._changed.notify_all()

    def _next_due(self) -> _Pending | None:
        with self._changed:
            while not self._stopping:
                if self._outbox and self._outbox[0].due <= time.monotonic():
                    return heapq.heappop(self._outbox)
                wait = self._outbox[0].due - time.monotonic() if self._outbox else None
                self._changed.wait(wait)
            return None

    def _run(self) -> None:
        while (item := self._next_due()) is not None:
            status = self._deliver(item)
            if status is not None and 200 <= status < 300:
                log.info("webhook %s delivered (attempt %d, HTTP %d)", item.event_id, item.attempt, status)
                continue
            if item.attempt >= self._attempts:
                log.warning("webhook %s given up after %d attempt(s) (last: %s)", item.event_id, item.attempt, status)
                continue
            delay = backoff(item.attempt, self._base_backoff)
            log.info("webhook %s attempt %d got %s; retrying in %.1f s", item.event_id, item.attempt, status, delay)
            self._push(_Pending(time.monotonic() + delay, next(self._seq), item.event_id, item.body, item.attempt + 1))

    def _deliver(self, item: _Pending) -> int | None:
        """The HTTP status of one attempt, None when there was no answer (refused address, network error)."""
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, int(time.time()), item.body),
        }
        try:
            return post_checked(self._url, item.body, headers, rules=self._rules, timeout=TIMEOUT)
        except (UrlRefused, OSError) as exc:
            log.info("webhook %s attempt %d: %s", item.event_id, item.attempt, type(exc).__name__)
            return None
