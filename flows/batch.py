"""The batch machinery every transcribing flow shares: bounds, the per-video fan-out
(upload → wait → land, or upload → record in webhook mode), Delta commits in batches, and the
reports in plan order. It defines no flow, so each flow module imports it and none imports another."""

from __future__ import annotations

import functools
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from prefect import unmapped
from prefect.futures import PrefectFuture, as_completed
from prefect.futures import wait as wait_for
from prefect.states import State
from prefect.task_runners import TaskRunner

from reelscribe.core.confidence import Thresholds
from reelscribe.core.durations import require_durations
from reelscribe.core.handoff import DEFAULT_HAND_OFF, HandOff
from reelscribe.core.lake_format import DEFAULT_TABLE_FORMAT, TableFormat, commits_in_batches, open_lake
from reelscribe.core.plan import HELD, Bounds, Plan, PlannedVideo, PlanStatus
from reelscribe.core.settings import Settings, UploadChoice
from reelscribe.core.sources import VideoSource
from reelscribe.core.waiting import DEFAULT_WAIT_MODE, WaitHistory, WaitMode, WaitOptions
from reelscribe.flows.in_turn import Chains, in_turn
from reelscribe.flows.interrupt import RunInterrupted, raise_if_interrupted
from reelscribe.flows.params import DEFAULT_UPLOAD
from reelscribe.flows.report import (
    ReportStatus,
    VideoReport,
    deferred_report,
    duplicate_report,
    failed_before_report,
    report_for,
    submitted_report,
)
from reelscribe.tasks.land import Landed, commit_landed, land_transcription
from reelscribe.tasks.pending import record_submission
from reelscribe.tasks.progress import video_finished
from reelscribe.tasks.storage import store_options
from reelscribe.tasks.upload import choose_upload_path, upload_video
from reelscribe.tasks.wait import wait_for_indexing

# A Delta commit costs ~50 ms whatever its size; these bound how long a landed video waits to be seen.
COMMIT_EVERY = 50
COMMIT_AFTER_S = 60.0


def deployment_clone() -> Path | None:
    """A deployment run's working directory, the temporary clone its pull step made; ``None`` elsewhere.

    Sources in it are recorded relative to it (``samples/jfk.mp4``, as in the repository): its
    absolute path is deleted when the run ends.
    """
    from prefect.runtime import deployment

    return Path.cwd() if deployment.id else None


def checked_bounds(max_videos: int | None, max_video_minutes: float | None) -> Bounds:
    """The run's bounds; bounding by minutes needs PyAV, checked before anything is sent."""
    if max_video_minutes is not None:
        require_durations()
    return Bounds(max_videos, max_video_minutes)


def reports_in_plan_order(plan: Plan, sent: list[VideoReport]) -> list[VideoReport]:
    """``sent``: the reports of the plan's videos passed on (``Plan.passed_on``), in order; each
    other video gets its report from the plan: ``deferred``, ``failed-before``, or ``duplicate``
    (with the video id its copy landed as, when it did)."""
    reports = iter(sent)
    ordered = [_held_report(v) if v.status in HELD else next(reports) for v in plan.videos]
    video_ids = {r.source: r.video_id for r in ordered if r.video_id}
    return [replace(r, video_id=video_ids.get(v.copy_of)) if v.status == PlanStatus.DUPLICATE else r
            for v, r in zip(plan.videos, ordered)]


def _held_report(video: PlannedVideo) -> VideoReport:
    if video.status == PlanStatus.DUPLICATE:
        return duplicate_report(video.source.uri, video.copy_of)
    if video.status == PlanStatus.FAILED_BEFORE:
        return failed_before_report(video.source.uri, video.error)
    return deferred_report(video.source.uri, video.seconds)


def transcribe_each(
    found: list[VideoSource],
    settings: Settings,
    index: str,
    landed: frozenset[str],
    *,
    out: str,
    start: float | None,
    end: float | None,
    runner: TaskRunner,
    max_wait_seconds: float,
    refresh: bool = False,
    storage_block: str | None = None,
    table_format: TableFormat = DEFAULT_TABLE_FORMAT,
    upload: UploadChoice = DEFAULT_UPLOAD,
    hashes: list[str | None] | None = None,
    hand_off: HandOff = DEFAULT_HAND_OFF,
    index_name: str | None = None,
    wait: WaitMode = DEFAULT_WAIT_MODE,
    thresholds: Thresholds = Thresholds(),
) -> list[VideoReport]:
    """The fan-out on ``runner`` (``flows.runners.task_runner``): upload → wait → land per video.

    With ``wait="webhook"``: upload → record the submission (``tasks/pending.py``) per video, and
    return; each lands when its completion event runs ``land-indexed`` (``flows/land_indexed.py``).

    ``hashes``: each video's content hash from the selection (``None``: the upload hashes it).
    One report each, in order. Everything passed here is picklable, for Dask workers. ``index_name``
    (the name the run was given; ``None`` for an index given by id) lands in ``videos.index_name``. The
    ingest path (``reelscribe.core.ingest_paths``) is chosen once for the batch and passed to every
    step. In a Delta lake the land steps stage their videos and this flow commits them in batches as
    they finish (``commit_as_landed``).
    """
    raise_if_interrupted()  # Ctrl-C while the batch was being planned: nothing is sent
    options = WaitOptions(max_wait=max_wait_seconds, history=WaitHistory())
    path = choose_upload_path(settings, upload)
    store = {"out": out, "storage_block": storage_block}
    shared = {"settings": settings, "index_id": index}
    each_upload = {"landed": landed, "refresh": refresh, "path": path, "options": options, "hand_off": hand_off, **shared, **store}
    each_land = {"path": path, "start": start, "end": end, "table_format": table_format, "options": options,
                 "index_name": index_name, "thresholds": thresholds, **shared, **store}
    hashes = hashes or [None] * len(found)
    with runner:
        if wait == "webhook":
            uploads = runner.map(
                upload_video, {"source": found, "content_sha256": hashes, **{k: unmapped(v) for k, v in each_upload.items()}},
            )
            recorded = runner.map(
                record_submission,
                {"uploaded": uploads, "path": unmapped(path), "index_id": unmapped(index), "options": unmapped(options),
                 "table_format": unmapped(table_format), "start": unmapped(start), "end": unmapped(end),
                 "index_name": unmapped(index_name), "refresh": unmapped(refresh), "thresholds": unmapped(thresholds),
                 **{k: unmapped(v) for k, v in store.items()}},
            )
            wait_for([*uploads, *recorded])
            reports = [submitted_report(s.uri, [u.state, r.state]) for s, u, r in zip(found, uploads, recorded)]
            return with_landed_video_ids(reports, [u.state for u in uploads], out, index, table_format, storage_block)
        # Each video's steps in turn (flows/in_turn.py), its report handed to the caller as it ends (its
        # line printed then); on Ctrl-C this raises RunInterrupted, having stopped the uploads and waits.
        chains = Chains(len(found))
        finished = in_turn(
            runner, chains, threads=getattr(runner, "_max_workers", None),
            upload=lambda i: runner.submit(upload_video, {"source": found[i], "content_sha256": hashes[i], **each_upload}),
            wait=lambda i, uploaded: runner.submit(wait_for_indexing, {"uploaded": uploaded, "options": options, "path": path, **shared}),
            land=lambda i, uploaded, ready: runner.submit(land_transcription, {"uploaded": uploaded, "ready": ready, **each_land}),
            interruptible=(upload_video, wait_for_indexing),
        )
        tell = functools.partial(_tell, found, chains, out, index, table_format, storage_block)
        if commits_in_batches(table_format):
            commits = commit_as_landed([], out, index, storage_block, finished=finished, announce=tell)
        else:
            commits = {}
            for i, _ in finished:
                tell(i)
        uploads, readies, lands = chains.uploads, chains.readies, chains.lands
        # Every future, not only the last step's: a Dask future keeps its state (and data) only
        # once waited on; read later, it would come from the API without its result.
        wait_for(chains.submitted())
    reports = [
        report_for(source.uri, upload=u.state, wait=r.state, land=l.state, commit=commits.get(i))
        for i, (source, u, r, l) in enumerate(zip(found, uploads, readies, lands))
    ]
    return with_landed_video_ids(reports, [u.state for u in uploads], out, index, table_format, storage_block)


def with_landed_video_ids(
    reports: list[VideoReport], uploads: list[State], out: str, index: str, table_format: TableFormat,
    storage_block: str | None = None,
) -> list[VideoReport]:
    """Skipped videos named by the video id the lake holds for their content (one landed read, only if any)."""
    hashes = {
        i: state.result(raise_on_failure=False).content_sha256
        for i, (report, state) in enumerate(zip(reports, uploads)) if report.status == ReportStatus.SKIPPED
    }
    if not hashes:
        return reports
    landed = open_lake(out, table_format, **store_options(storage_block).of(out)).landed(index)
    return [
        replace(report, video_id=landed[hashes[i]].video_id) if i in hashes and hashes[i] in landed else report
        for i, report in enumerate(reports)
    ]


def _tell(found, chains: Chains, out, index, table_format, storage_block, i: int, commit: State | None = None) -> None:
    """Hand the caller video ``i``'s report, now that its land step (and commit) ended."""
    uploads, readies, lands = chains.uploads, chains.readies, chains.lands
    for future in (uploads[i], readies[i]):
        future.wait()  # ended before the land step did; waited on, its state is read here, not from the API
    upload = uploads[i].state
    report = report_for(found[i].uri, upload=upload, wait=readies[i].state, land=lands[i].state, commit=commit)
    video_finished(with_landed_video_ids([report], [upload], out, index, table_format, storage_block)[0])


def commit_as_landed(
    lands: list[PrefectFuture], out: str, index: str, storage_block: str | None = None, *,
    finished: Iterable[tuple[int, PrefectFuture]] | None = None, announce: Callable[[int, State | None], None] | None = None,
) -> dict[int, State]:
    """Commit staged videos every ``COMMIT_EVERY`` videos or ``COMMIT_AFTER_S`` seconds, and at the end.

    Runs in the flow's thread while the land steps go on in the runner. Returns each staged
    video's commit state by its position. A video that failed staged nothing and delays no
    commit; a commit that fails leaves its videos staged, and the next run commits them
    (``prepare_index``), so nothing retrieved is lost, also when this process dies.

    ``finished``: ``(position, land future)`` as each ends (default: ``lands`` as completed); ``announce(i,
    commit)``: called once per video when it has ended: at its commit if it was staged, else at once.
    """
    position = {future.task_run_id: i for i, future in enumerate(lands)}
    pending: dict[int, str] = {}
    commits: dict[int, State] = {}
    oldest = time.monotonic()

    def flush() -> None:
        state = commit_landed(out, index, list(pending.values()), storage_block, return_state=True)
        commits.update(dict.fromkeys(pending, state))
        if announce is not None:
            for i in pending:
                announce(i, state)
        pending.clear()

    if finished is None:
        finished = ((position[future.task_run_id], future) for future in as_completed(lands))
    try:
        for i, future in finished:
            future.wait()  # sets the final state; without it ``state`` asks the API, which may lag
            state = future.state
            landed = state.result(raise_on_failure=False) if state.is_completed() else None
            if isinstance(landed, Landed) and landed.staged and landed.video_id:
                if not pending:
                    oldest = time.monotonic()
                pending[i] = landed.video_id
            elif announce is not None:
                announce(i, None)
            if len(pending) >= COMMIT_EVERY or (pending and time.monotonic() - oldest >= COMMIT_AFTER_S):
                flush()
    except RunInterrupted:
        if pending:
            flush()  # what was retrieved before Ctrl-C is committed, not left for the next run
        raise
    if pending:
        flush()
    return commits


