"""``reelscribe plan`` and ``run``'s nothing-new check: decide what a run would send, Prefect-free.

Both list the sources, read the lake's landed set for the index, its seen-source state and its
remembered failures (``reelscribe.core.plan``), and read no video byte the state already knows.
``run`` starts Prefect's engine and the embedded server only when the plan has something to send.
``plan`` writes nothing anywhere: what it hashes stays in memory (so a later ``plan`` hashes it
again, and ``run`` records it), and it needs no write access to the lake or its store.

Which index: ``--index-id`` as given; a name through one ``GET /indexes`` of a configured API;
for the embedded server, the name looked up read-only in the server's own database
(``reelscribe.server.index_lookup``), without starting it. That database is the only record, so
an index deleted or recreated since the last run is seen at once: a recreated one has a new id
and nothing landed under it, so the run takes the full path.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reelscribe.core.settings import Environment


def add_plan_command(commands: argparse._SubParsersAction, defaults: dict) -> None:
    from reelscribe.cli.bounds import add_bound_arguments

    plan = commands.add_parser("plan", help="list what a run would do (new, changed, landed, deferred, duplicate, "
                               "failed-before) and its minutes",
                               description="List what `reelscribe run` would do with these sources, reading only "
                               "the new videos' bytes and container headers; nothing is sent and nothing is written. "
                               "Exit status 2 when a source is missing or cannot be listed.")
    plan.add_argument("sources", nargs="+", metavar="SOURCE", help="video file, folder, glob, http(s) URL or fsspec URI")
    target = plan.add_mutually_exclusive_group()
    target.add_argument("--index-name", help=f"index to plan for (default: {defaults['index_name']})")
    target.add_argument("--index-id", help="existing index id")
    plan.add_argument("--api-url", help="API base URL with version, e.g. https://api.twelvelabs.io/v1.3")
    plan.add_argument("--out", default=defaults["out"], help=f"lake root (default: ./{defaults['out']})")
    plan.add_argument("--table-format", choices=defaults["table_formats"], default=defaults["table_format"],
                      help=defaults.get("table_format_help"))
    plan.add_argument("--server-data-dir", type=Path, help="embedded server's data dir")
    plan.add_argument("--retry-failed", action="store_true",
                      help="plan remembered lasting failures as new, as `run --retry-failed` sends them")
    add_bound_arguments(plan)
    plan.add_argument("--json", action="store_true", help="print one JSON object per video, then one for the totals")
    plan.set_defaults(handler=cmd_plan)


def cmd_plan(args: argparse.Namespace) -> int:
    """Exit 0, or 2 when a source is missing or cannot be listed (a cron job's typo fails)."""
    from reelscribe.cli.exits import EXIT_OK, EXIT_USAGE, usage_error
    from reelscribe.cli.preflight import check_sources
    from reelscribe.core.errors import NoVideosFound, ReelscribeError

    try:
        check_sources(args.sources)
        index_id = _known_index_id(args)
        lake, known, found, problems = _state_and_listing(args)
        for problem in problems:
            print(f"reelscribe: {problem}", file=sys.stderr)
        plan = _plan(args, index_id=index_id, lake=lake, known=known, found=found)
    except ReelscribeError as exc:
        return usage_error(str(exc))
    _print_plan(plan, as_json=args.json)
    return EXIT_USAGE if any(not isinstance(p.error, NoVideosFound) for p in problems) else EXIT_OK


def run_if_nothing_new(args: argparse.Namespace) -> int | None:
    """Exit status of a run that has nothing to send, decided without Prefect; ``None``: take the full path.

    Landed videos print as ``skipped`` and bounded ones as ``deferred``, as the full run would.
    """
    if args.refresh or args.dask or args.credentials_block:
        return None
    from reelscribe.core.errors import ReelscribeError

    try:
        index_id = _known_index_id(args)
    except ReelscribeError:
        return None  # an API that does not answer: the full path says so, in its own words
    if index_id is None:
        return None
    from reelscribe.cli.terminal import print_reports

    lake, known, found, problems = _state_and_listing(args)
    if problems or not found:
        return None  # the full run reports each problem as a failed video
    plan = _plan(args, index_id=index_id, lake=lake, known=known, found=found)
    if plan.to_send:
        return None
    if plan.notice:
        print(f"reelscribe: {plan.notice}", file=sys.stderr)
    landed = lake.landed(index_id) if plan.counts["landed"] else {}
    print_reports([_report(v, landed) for v in plan.videos], as_json=args.json)
    return 0


def _report(video, landed: dict):
    """A video's line on the nothing-new path, as the full run would print it (``skipped`` with
    the video id its content landed as)."""
    from reelscribe.core.plan import PlanStatus
    from reelscribe.flows.report import ReportStatus, VideoReport, deferred_report, duplicate_report, failed_before_report

    if video.status == PlanStatus.DEFERRED:
        return deferred_report(video.source.uri, video.seconds)
    if video.status == PlanStatus.DUPLICATE:
        return duplicate_report(video.source.uri, video.copy_of)
    if video.status == PlanStatus.FAILED_BEFORE:
        return failed_before_report(video.source.uri, video.error)
    record = landed.get(video.content_sha256)
    return VideoReport(video.source.uri, ReportStatus.SKIPPED, video_id=record.video_id if record else None)


def _state_and_listing(args: argparse.Namespace):
    """The lake, its seen-source state, and the sources listed with it (a large S3 prefix in key
    ranges from the state, as the hourly flow lists it), with the listing's problems. Reads only:
    ``run`` has proved the lake writable before (``preflight``), ``plan`` needs it not to be."""
    from reelscribe.core.durations import require_durations
    from reelscribe.core.lake_format import open_lake
    from reelscribe.core.sources import discover

    if args.max_video_minutes is not None:
        require_durations()
    lake = open_lake(args.out, args.table_format)
    known = lake.seen_sources()
    found, problems = discover(args.sources, known=known)
    return lake, known, found, problems


def _plan(args: argparse.Namespace, *, index_id: str | None, lake, known, found):
    """The plan; the run's nothing-new path records what it hashed, as the run would, ``plan`` never."""
    from reelscribe.core.failure_memory import remembered
    from reelscribe.core.plan import Bounds, make_plan

    dry_run = args.handler is cmd_plan
    landed = lake.landed_hashes(index_id) if index_id else frozenset()
    failed = remembered(lake, index_id) if index_id and not args.retry_failed else {}
    plan = make_plan(found, landed, known, Bounds(args.max_videos, args.max_video_minutes),
                     durations=dry_run, failed=failed)
    if not dry_run:
        lake.record_sources(plan.hashed)
    if plan.without_identity:
        print(f"reelscribe: {plan.without_identity} source(s) have no usable identity in their store's listing: "
              "hashed at every run", file=sys.stderr)
    return plan


def _index_name(args: argparse.Namespace) -> str:
    from reelscribe.flows.params import DEFAULT_INDEX_NAME

    return args.index_name or DEFAULT_INDEX_NAME


def _known_index_id(args: argparse.Namespace) -> str | None:
    """The index id without starting anything: given, asked of a configured API, or read from the
    embedded server's database; ``None``: no such index (yet)."""
    if args.index_id:
        return args.index_id
    from reelscribe.core.settings import Settings

    settings = Settings.from_env(api_url=args.api_url)
    if settings is None:
        from reelscribe.server.index_lookup import index_id_named

        return index_id_named(_server_dir(args), _index_name(args))
    from reelscribe.core.client import TwelveLabsClient

    with TwelveLabsClient(settings) as client:
        index = client.find_index_by_name(_index_name(args))
    return index.id if index else None


def _server_dir(args: argparse.Namespace) -> Path:
    return args.server_data_dir or Environment().data_home / "server"


def _print_plan(plan, *, as_json: bool) -> None:
    from reelscribe.core.plan import PlanStatus

    measured = (PlanStatus.NEW, PlanStatus.CHANGED, PlanStatus.DEFERRED)  # no length read: printed ``unknown``
    totals = {**plan.counts, "minutes": None if plan.minutes is None else round(plan.minutes, 2),
              "unknown_lengths": plan.unknown_lengths, "bytes_read": plan.bytes_read}
    if as_json:
        for v in plan.videos:
            print(json.dumps({"source": v.source.uri, "status": v.status, "seconds": v.seconds,
                              "content_sha256": v.content_sha256, "error": v.error, "copy_of": v.copy_of}))
        print(json.dumps({"totals": totals}))
        return
    for v in plan.videos:
        seconds = f"{v.seconds:.1f}" if v.seconds is not None else ("unknown" if v.status in measured else "")
        note = f"copy of {v.copy_of}" if v.copy_of else v.error or ""
        print("\t".join((v.status, v.source.uri, seconds, note)))
    if plan.notice:
        print(f"reelscribe: {plan.notice}", file=sys.stderr)
    print(f"reelscribe: plan: {plan.summary()}", file=sys.stderr)
