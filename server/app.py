"""``create_app(config)``: the FastAPI application with its routes, error handlers and workers."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import compile_path

from reelscribe.server import (
    routes_assets,
    routes_indexed_assets,
    routes_indexes,
    routes_multipart,
    routes_tasks,
    routes_v12,
    routes_videos,
)
from reelscribe.server.asset_workers import AssetWorkers
from reelscribe.server.asr import AsrEngine, AsrSettings
from reelscribe.server.models import resolve_model
from reelscribe.server.config import ServerConfig
from reelscribe.server.context import ServerContext
from reelscribe.server.errors import ApiError, error_response
from reelscribe.server.faults import FaultInjector
from reelscribe.server.guard import Guard
from reelscribe.server.multipart import PRESIGNED_PREFIX, Presigner
from reelscribe.server.pool import WorkerPool
from reelscribe.server.ratelimit import RateLimiter
from reelscribe.server.speakers import SpeakerLabelledEngine, SpeakerModel
from reelscribe.server.store import Store
from reelscribe.server.urlfetch import UrlRules
from reelscribe.server.webhooks import WebhookSender, no_webhook
from reelscribe.server.workers import Indexer

log = logging.getLogger(__name__)


def _field_name(location: tuple) -> str:
    """``('query', 'status', 0)`` → ``status``; ``('body', 'models', 0, 'model_name')`` → ``models.0.model_name``."""
    if location[:1] in (("query",), ("path",)) and len(location) > 1:
        return str(location[1])
    parts = [str(part) for part in location[1:]] or [str(part) for part in location]
    return ".".join(parts) or "body"


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 becomes Twelve Labs' 400, naming the first offending field."""
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request", "type": ""}
    name = _field_name(tuple(first.get("loc", ())))
    if first.get("type") == "missing":
        return error_response("parameter_not_provided", f"The `{name}` parameter is required but was not provided.")
    return error_response("parameter_invalid", f"The `{name}` parameter is invalid: {first.get('msg', 'invalid value')}.")


ROUTERS = (
    ("/v1.3", routes_indexes.router),
    ("/v1.3", routes_tasks.router),
    ("/v1.3", routes_videos.router),
    ("/v1.3", routes_videos.classic_router),
    # v1.2 had indexes, POST/GET /tasks, videos and the classic transcription endpoint; not assets.
    # Its own names (engines, metadata) first: the first route that matches a path answers.
    ("/v1.2", routes_v12.router),
    ("/v1.2", routes_indexes.router),
    ("/v1.2", routes_tasks.router),
    ("/v1.2", routes_videos.router),
    ("/v1.2", routes_videos.classic_router),
    ("/v1.3", routes_multipart.router),
    ("/v1.3", routes_assets.router),
    ("/v1.3", routes_indexed_assets.router),
    ("", routes_multipart.presigned_router),
)


def _method_table() -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """(path pattern, methods) for every served route, for ``Allow`` headers."""
    table = []
    for prefix, router in ROUTERS:
        for route in router.routes:
            pattern, _, _ = compile_path(prefix + route.path)
            table.append((pattern, frozenset(route.methods)))
    return table


_METHODS = _method_table()


def _allowed_methods(path: str) -> str:
    """Every method served at ``path`` (Starlette's own ``Allow`` names only the first route's)."""
    methods = {m for pattern, route_methods in _METHODS if pattern.match(path) for m in route_methods}
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 404:
        return error_response("resource_not_exist", f"No such endpoint: {request.method} {request.url.path}.")
    if exc.status_code == 405:
        return error_response(
            "method_not_allowed",
            f"{request.method} is not supported on {request.url.path}.",
            status=405,
            headers={"Allow": _allowed_methods(request.url.path)},
        )
    return error_response("parameter_invalid", str(exc.detail), status=exc.status_code, headers=exc.headers)


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return exc.response()


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response("internal_server_error", "The server failed to handle the request.", status=500)


def asr_settings(config: ServerConfig) -> AsrSettings:
    """The engine's settings; resolves the model (checked at start-up by the CLI, so this does not fail there)."""
    return AsrSettings(
        model=resolve_model(config.model, config.model_cache_dir).path,
        language=config.language,
        language_threshold=config.language_threshold,
        compute_type=config.compute_type,
        cpu_threads=config.asr_threads,
        num_workers=config.workers,
        vad=config.vad,
        batch_size=config.batch_size,
        checker_cache=config.model_cache_dir,
    )


def webhook_sender(config: ServerConfig, store: Store) -> WebhookSender | None:
    """The webhook outbox when ``--webhook-url`` is set; the payload's models are the index's."""
    if config.webhook_url is None or config.webhook_secret is None:
        return None

    def models_of(index_id: str) -> list[dict]:
        index = store.indexes.get(index_id)
        return index.models if index is not None else []

    return WebhookSender(
        config.webhook_url,
        config.webhook_secret,
        UrlRules.of(config),
        models_of=models_of,
        attempts=config.webhook_attempts,
        base_backoff=config.webhook_backoff,
    )


def create_app(config: ServerConfig, *, engine: AsrEngine | None = None) -> FastAPI:
    """The whole server as an ASGI app; workers start and stop with the app's lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store(config.db_path)
        asr = engine or AsrEngine(asr_settings(config))
        if config.speakers:
            asr = SpeakerLabelledEngine(asr, SpeakerModel())
        sender = webhook_sender(config, store)
        completed = sender.completed if sender is not None else no_webhook
        pool = WorkerPool(config)
        indexer = Indexer(config, store, asr, pool, completed)
        assets = AssetWorkers(config, store, asr, pool, completed)
        app.state.context = ServerContext(
            config=config, store=store, indexer=indexer, assets=assets, presigner=Presigner.from_store(store)
        )
        asr.warm_up()
        if sender is not None:
            sender.start()
        pool.start()
        log.info("serving %s with %d worker(s)", config.data_dir, config.workers)
        try:
            yield
        finally:
            pool.stop()
            if sender is not None:
                sender.stop()
            asr.close()
            store.close()

    app = FastAPI(
        title="reelscribe embedded server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    for prefix, router in ROUTERS:
        app.include_router(router, prefix=prefix)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    limiter = RateLimiter(config.rate_limit, config.rate_window) if config.rate_limit > 0 else None
    app.add_middleware(
        Guard,
        api_keys=config.api_keys,
        limiter=limiter,
        faults=FaultInjector(config.fault_5xx_rate, config.fault_429_rate, config.fault_seed),
        drain_limit=config.drain_limit,
        presigned_prefix=PRESIGNED_PREFIX,
    )
    return app
