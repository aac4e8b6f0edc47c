"""The land step of the webhook mode: run by a deployment trigger when a completion event arrives.

``wait="webhook"`` runs submit each video, record it in the lake (``core.pending``) and return,
so no worker holds a slot while the platform indexes. The platform's ``index.task.ready`` webhook
becomes the Prefect event ``twelvelabs.index.task.ready`` (``reelscribe webhooks serve``), whose
trigger on the ``land-indexed`` deployment runs this flow with the event's payload: the video is
retrieved and landed, with no status request (the event says it is ready). ``.failed`` marks the
video failed, with the server's reason (one request), in the summary artifact, and the run ends
Failed, as a batch with a failed video does.

Exactly once: the record is removed once the video landed or failed, so an event delivered twice
finds nothing the second time; two copies landing at once write the same video's files (Parquet)
or replace its rows (Delta), so the lake still holds it once.

Without ``completion`` (the deployment's schedule) it is the safety net: each submission past
its deadline (``max_wait_seconds`` after it was submitted) whose webhook never came is polled
**once**: ready lands, failed fails, anything else fails as timed out (the next run submits it
again, finding the same task).
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from prefect.states import State

from reelscribe.core.errors import IndexingFailed, IndexingTimedOut
from reelscribe.core.lake_format import commits_in_batches, lake_format
from reelscribe.core.ingest_paths.base import Job
from reelscribe.core.models import JobEnd
from reelscribe.core.pending import Completion, PendingSubmission
from reelscribe.core.settings import Settings
from reelscribe.core.waiting import WaitOptions
from reelscribe.flows.params import DEFAULT_OUT, ApiUrl, CompletionParam, CredentialsBlock, Out, StorageBlock, describe_parameters
from reelscribe.flows.report import ReportStatus, VideoReport, failed_report, land_report
from reelscribe.flows.summary import finish
from reelscribe.tasks.connection import resolve_settings
from reelscribe.tasks.land import commit_landed, land_transcription
from reelscribe.tasks.pending import find_submission, forget_submission, is_landed, overdue_submissions, poll_once
from reelscribe.tasks.storage import store_options

SUMMARY_KEY = "land-indexed-summary"


def _run_name() -> str:
    from prefect.runtime import flow_run

    completion = flow_run.parameters.get("completion") or {}
    data = completion.get("data") or {}
    return f"land-{data.get('id')}-{data.get('status')}" if data else "land-overdue"


@flow(name="land-indexed", flow_run_name=_run_name, validate_parameters=True)
@describe_parameters
def land_indexed(
    completion: CompletionParam = None,
    out: Out = DEFAULT_OUT,
    api_url: ApiUrl = None,
    credentials_block: CredentialsBlock = None,
    storage_block: StorageBlock = None,
) -> list[VideoReport]:
    """Land the video a completion event names, or poll once each submission past its deadline.

    A completion for a job with no pending record in ``out`` (landed already: a duplicate event;
    or submitted elsewhere) lands nothing and is not an error.
    """
    logger = get_run_logger()
    settings = resolve_settings(api_url, credentials_block)
    if completion is None:
        due = overdue_submissions(out, storage_block)
        reports = [_settle(s, poll_once(settings, s, return_state=True), settings, out, storage_block) for s in due]
        return finish(reports, key=SUMMARY_KEY, headline=f"{len(due)} overdue submission{'' if len(due) == 1 else 's'} polled once")
    done = Completion.from_event_payload(completion)
    submission = find_submission(out, done.job_id, storage_block)
    if submission is None:
        logger.info("%s: no pending submission in %s (already landed, or submitted to another lake): nothing to do", done.job_id, out)
        return finish([], key=SUMMARY_KEY, headline=f"{done.job_id} {done.status}: nothing pending")
    outcome = submission.as_ready(done) if done.status == JobEnd.READY else poll_once(settings, submission, return_state=True)
    return finish([_settle(submission, outcome, settings, out, storage_block)], key=SUMMARY_KEY,
                  headline=f"{done.job_id} {done.status}")


def _settle(
    pending: PendingSubmission, job: Job | State, settings: Settings, out: str, storage_block: str | None
) -> VideoReport:
    """Land a ready job, or report why it is not. ``job``: the ready job, or the state of one status request.

    The submission stays pending only when landing a ready job failed (the next deadline sweep
    tries again); a job that failed, timed out or could not be asked about is done with: the next
    run submits the video again (finding the same job, if any).
    """
    source = pending.submission.source.uri
    if isinstance(job, State):
        if not job.is_completed():
            forget_submission(out, pending.job_id, storage_block)
            return failed_report(source, job.result(raise_on_failure=False))
        job = job.result()
    status = job.status
    if status == JobEnd.READY:
        report = _land(pending, job, settings, out, storage_block)
        if report.status != ReportStatus.FAILED:
            forget_submission(out, pending.job_id, storage_block)
        return report
    forget_submission(out, pending.job_id, storage_block)
    if status == JobEnd.FAILED:
        return failed_report(source, IndexingFailed(pending.job_id, job.failure_reason()))
    return failed_report(source, IndexingTimedOut(pending.job_id, time.time() - pending.submitted_at, status.value))


def _land(
    pending: PendingSubmission, ready: Job, settings: Settings, out: str, storage_block: str | None
) -> VideoReport:
    source = pending.submission.source.uri
    if not pending.refresh and is_landed(out, pending, storage_block):
        get_run_logger().info("%s: already landed in index %s", source, pending.index_id)
        return VideoReport(source, ReportStatus.SKIPPED, video_id=pending.submission.video_id)
    # The lake's format now (converted since the submission, say); the submission's for a lake still empty.
    table_format = lake_format(out, **store_options(storage_block).of(out)) or pending.table_format
    landed = land_transcription(
        pending.submission, ready, pending.index_id, settings, out, pending.path, pending.start,
        pending.end, storage_block, table_format, WaitOptions(), pending.index_name,
        pending.thresholds(), return_state=True,
    )
    states: list[State] = [landed]
    if landed.is_completed() and commits_in_batches(table_format):
        video_id = landed.result().video_id
        states.append(commit_landed(out, pending.index_id, [video_id], storage_block, return_state=True))
    return land_report(source, states)
