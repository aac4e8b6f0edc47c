"""What ``reelscribe run`` checks before anything starts (no Prefect, no server, nothing written).

The options are validated against the flows' own parameter types (``flows/params.py``), so a
deployment run refuses the same values as flow parameter validation; here the error names the
CLI option (``--max-wait``), not the parameter. Then what needs I/O but no server: the local
sources (missing, unreadable, not a video), the lake's store and table format, the API's
reachability and key. Checks that need Prefect (blocks,
``--dask``) run only when those options are given.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from reelscribe.core.errors import ConfigError, InvalidIdentifier
from reelscribe.core.retry import RetryWait
from reelscribe.core.settings import Settings
from reelscribe.flows import params

# Each flow parameter of ``transcribe_videos``: its type (as the flow declares it) and the option
# that sets it. tests/test_cli_fail_fast.py checks the types against the flow's signature.
RUN_OPTIONS: dict[str, tuple[Any, str]] = {
    "sources": (params.Sources, "SOURCE"),
    "index_name": (params.IndexName, "--index-name"),
    "index_id": (params.IndexId, "--index-id"),
    "out": (params.Out, "--out"),
    "api_url": (params.ApiUrl, "--api-url"),
    "credentials_block": (params.CredentialsBlock, "--credentials-block"),
    "start": (params.WindowStart, "--start"),
    "end": (params.WindowEnd, "--end"),
    "max_concurrency": (params.MaxConcurrency, "--concurrency"),
    "max_wait_seconds": (params.MaxWaitSeconds, "--max-wait"),
    "refresh": (params.Refresh, "--refresh"),
    "table_format": (params.TableFormatParam, "--table-format"),
    "storage_block": (params.StorageBlock, "--storage-block"),
    "dask": (params.Dask, "--dask"),
    "upload": (params.Upload, "--upload"),
    "hand_off": (params.HandOffParam, "--hand-off"),
    "max_videos": (params.MaxVideos, "--max-videos"),
    "max_video_minutes": (params.MaxVideoMinutes, "--max-video-minutes"),
    "wait": (params.WaitParam, "--wait"),
    "retry_failed": (params.RetryFailed, "--retry-failed"),
    "min_confidence": (params.MinConfidence, "--min-confidence"),
    "min_language_probability": (params.MinLanguageProbability, "--min-language-probability"),
}

_RunParameters: type[BaseModel] = create_model(
    "RunParameters",
    __config__=ConfigDict(extra="forbid"),
    **{name: (annotation, None) for name, (annotation, _) in RUN_OPTIONS.items()},
)


def check_options(options: dict[str, Any]) -> None:
    """``ConfigError`` naming the first option whose value the flow would refuse, and why."""
    from reelscribe.core.ids import validate_partition_id

    try:
        _RunParameters.model_validate(options)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0])
        option = RUN_OPTIONS[name][1] if name in RUN_OPTIONS else name
        value = options.get(name)
        shown = " ".join(map(str, value)) if isinstance(value, list) else value
        reason = str(error["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{option} {shown}: {reason[:1].lower()}{reason[1:]}") from None
    if options.get("start") is not None and options.get("end") is not None:
        from reelscribe.core.flatten import validate_window  # (pyarrow: imported only for a window)

        try:
            validate_window(options["start"], options["end"])
        except ConfigError as exc:
            raise ConfigError(f"--start/--end: {exc}") from None
    if options.get("index_id") is not None:
        try:
            validate_partition_id(options["index_id"], "index_id")
        except InvalidIdentifier as exc:
            raise ConfigError(f"--index-id: {exc}") from None


def check_before_run(options: dict[str, Any]) -> Settings | None:
    """Every check that can run before Prefect or a server starts; the API's settings, if one is configured.

    ``None``: no API configured (and no credentials block), so the embedded server will serve the run.
    """
    from reelscribe.core.client import TwelveLabsClient
    from reelscribe.core.lake_format import open_lake
    from reelscribe.core.stores import check_lake

    check_options(options)
    check_sources(options["sources"])
    if options.get("dask"):
        from reelscribe.flows.runners import require_prefect_api

        require_prefect_api()
    store: dict[str, Any] = {}
    if options.get("storage_block"):  # before the lake's check: its credentials are the lake's
        from reelscribe.tasks.storage import store_options

        store = store_options(options["storage_block"]).of(options["out"])
    check_lake(options["out"], **store)
    open_lake(options["out"], options["table_format"], **store)
    if options.get("credentials_block"):
        from reelscribe.tasks.connection import resolve_settings

        settings = resolve_settings(options.get("api_url"), options["credentials_block"])
    else:
        settings = Settings.from_env(api_url=options.get("api_url"))
    if settings is not None:
        with TwelveLabsClient(settings, on_wait=say_wait) as client:
            client.check_reachable()
    return settings


def check_sources(sources: list[str]) -> None:
    """Local sources that can give no video refused now (``SourceError``, one line); the files
    skipped in the folders given counted in one line on stderr."""
    from reelscribe.core.sources import check_local_inputs, skipped_line

    if line := skipped_line(check_local_inputs(sources)):
        print(f"reelscribe: {line}", file=sys.stderr, flush=True)


def say_wait(wait: RetryWait) -> None:
    """One line per wait of a retry loop, on a terminal and in a pipe alike."""
    print(f"reelscribe: {wait.line()}", file=sys.stderr, flush=True)
