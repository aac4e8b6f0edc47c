"""The flows' parameters, declared once: type, constraints and the description the UI form shows.

Prefect 3.8 builds a deployment's parameter form (``parameter_openapi_schema``) from the flow's
signature, but takes each field's description only from a ``= Field(...)`` default or from the
docstring's Google-style ``Args:`` section: a description inside ``Annotated[..., Field(...)]``
is overwritten with ``None`` (``prefect._internal.pydantic.v2_schema.process_v2_params`` passes
``description=None`` explicitly). ``describe_parameters`` closes that gap by writing the
``Args:`` section from the annotations, so every description lives in exactly one place.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Callable, TypeVar, get_args, get_origin

from pydantic import AfterValidator, Field

from reelscribe.core.waiting import DEFAULT_MAX_WAIT_SECONDS, DEFAULT_WAIT_MODE, WAIT_MODES, WaitMode  # noqa: F401
from pydantic.fields import FieldInfo

# DEFAULT_TABLE_FORMAT and TABLE_FORMATS are imported from here by the CLI, like the other defaults.
from reelscribe.core.table_format import DEFAULT_RETENTION_HOURS, DEFAULT_TABLE_FORMAT, TABLE_FORMATS, TableFormat  # noqa: F401
from reelscribe.core.settings import UploadChoice
# The confidence thresholds' defaults, for the flows and the CLI.
from reelscribe.core.confidence import DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_LANGUAGE_PROBABILITY  # noqa: F401
# DEFAULT_HAND_OFF and HAND_OFFS, like the table format's, for the CLI.
from reelscribe.core.handoff import DEFAULT_HAND_OFF, HAND_OFFS, HandOff  # noqa: F401

F = TypeVar("F", bound=Callable[..., Any])

# Each default once: the flows' signatures and the CLI's options read these.
DEFAULT_OUT = "lake"
DEFAULT_INDEX_NAME = "reelscribe"
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_UPLOAD: UploadChoice = "auto"

Sources = Annotated[list[str], Field(min_length=1, description="Video files, folders, globs, http(s) URLs or fsspec URIs (s3://…).")]
WatchedSource = Annotated[
    str,
    Field(
        min_length=1,
        description="Where new videos appear: a folder, a glob ('videos/**/*.mp4') or an fsspec URI (s3://bucket/prefix/). "
        "Relative paths are relative to the deployment's working directory (the repository root).",
    ),
]
IndexName = Annotated[str | None, Field(description="Index to use, created if missing. Give this or index_id.")]
IndexId = Annotated[str | None, Field(description="Existing index id. Give this or index_name.")]
Out = Annotated[str, Field(description="Lake root: a local path or a filesystem URI (s3://bucket/lake).")]
ApiUrl = Annotated[
    str | None,
    Field(description="API base URL with version, e.g. https://api.twelvelabs.io/v1.3. Default: the credentials block's, else TWELVELABS_BASE_URL."),
]
# The block types' slugs (``Secret``, ``tasks.credentials``, ``tasks.storage``; tests/test_cli_fail_fast.py
# checks them): a malformed slug is refused when the parameters are validated, before anything starts.
CREDENTIALS_BLOCK_TYPES = ("secret", "twelve-labs-credentials")
STORAGE_BLOCK_TYPES = ("aws-credentials", "s3-bucket", "reelscribe-object-store")


def _block_slug(*types: str) -> Callable[[str | None], str | None]:
    def check(slug: str | None) -> str | None:
        block_type, _, name = (slug or "").partition("/")
        if slug is not None and (block_type not in types or not name or "/" in name or name != name.strip()):
            raise ValueError(f"must be a block slug like {' or '.join(f'{t}/<name>' for t in types)}, not {slug!r}")
        return slug

    return check


CredentialsBlock = Annotated[
    str | None,
    AfterValidator(_block_slug(*CREDENTIALS_BLOCK_TYPES)),
    Field(description="Block holding the API key: 'secret/<name>' or 'twelve-labs-credentials/<name>'. Default: TWELVE_LABS_API_KEY."),
]
WindowStart = Annotated[float | None, Field(ge=0, allow_inf_nan=False, description="Keep only segments overlapping the window from this second.")]
WindowEnd = Annotated[float | None, Field(ge=0, allow_inf_nan=False, description="Keep only segments overlapping the window up to this second.")]
MaxConcurrency = Annotated[int, Field(ge=1, le=256, description="Videos in flight at once.")]
MaxWaitSeconds = Annotated[float, Field(gt=0, description="Give up waiting for one video's indexing after this long.")]
WaitParam = Annotated[
    WaitMode,
    Field(
        description="How a video's indexing is awaited: 'poll' (its worker slot polls until ready, then lands it) or "
        "'webhook' (submit and return; the platform's index.task.ready webhook, received by `reelscribe webhooks serve`, "
        "runs the land-indexed deployment; at max_wait_seconds a video whose webhook never came is polled once).",
    ),
]
CompletionParam = Annotated[
    dict[str, Any] | None,
    Field(
        description="The twelvelabs.index.task.ready / .failed event's payload (its trigger passes {{ event.payload }}). "
        "Default: none, and each submission past its deadline is polled once instead.",
    ),
]
MaxVideos = Annotated[
    int | None,
    Field(ge=0, description="Send at most this many new videos per run, oldest first; the rest are deferred to the next run. Default: no bound."),
]
MaxVideoMinutes = Annotated[
    float | None,
    Field(ge=0, description="Send at most this many minutes of new video per run (the unit the platform bills), oldest first; "
          "the rest are deferred to the next run. Needs PyAV to read lengths. Default: no bound."),
]
Refresh = Annotated[bool, Field(description="Land again videos that already landed.")]
MinConfidence = Annotated[
    float,
    Field(ge=0, le=1, allow_inf_nan=False,
          description="Name in the summary the videos whose transcript confidence (mean word probability, else the "
          "segments' exp(avg_logprob)) is below this (0 to 1). The lake keeps each video's in videos.confidence."),
]
MinLanguageProbability = Annotated[
    float,
    Field(ge=0, le=1, allow_inf_nan=False,
          description="A detected language less probable than this (0 to 1) lands marked uncertain "
          "(videos.language_uncertain) and is named in the summary."),
]
RetryFailed = Annotated[
    bool,
    Field(description="Send again videos the lake remembers as failed for a reason that will not change "
          "(unreadable media, unsupported language, too long). Default: report them failed-before, unsent."),
]
StorageBlock = Annotated[
    str | None,
    AfterValidator(_block_slug(*STORAGE_BLOCK_TYPES)),
    Field(description="Block with the object store's credentials: 'aws-credentials/<name>' or 's3-bucket/<name>' (prefect-aws), or "
                      "'reelscribe-object-store/<name>'. Default: the standard AWS chain (AWS_* variables, profile, role)."),
]
Dask = Annotated[
    str | None,
    Field(description="Run the tasks on Dask: a scheduler address (tcp://host:8786) or 'local' for a local cluster. Default: a thread pool in the flow's process."),
]
TableFormatParam = Annotated[
    TableFormat | None,
    Field(
        description="The format of a new lake: 'parquet' (one file per video, any reader globs it) or "
        "'delta' (Delta Lake tables: batch commits, in-place refresh, compaction; for lakes past ~10,000 videos or on S3). "
        "Default: an existing lake's own format (read from the lake), else parquet. A format that contradicts "
        "the lake is refused.",
    ),
]
HandOffParam = Annotated[
    HandOff,
    Field(
        description="How an s3:// (object-store) video reaches the API: 'stream' (read here and sent) or 'url' "
        "(a presigned URL the API fetches itself, valid REELSCRIBE_HAND_OFF_EXPIRY_S seconds, 6 h by default; "
        "only where the API can reach the store). Files and http(s) URLs are sent as they are.",
    ),
]
Upload = Annotated[
    UploadChoice,
    Field(
        description="How videos go in: 'assets' (POST /assets, then indexed assets; also lands words and utterances), "
        "'tasks' (POST /tasks, marked for removal in v1.3), or 'auto': assets where the server offers them, else tasks."
    ),
]


def index_label(params: dict[str, Any]) -> str:
    """How a run name shows its index: by name, else by id."""
    return params.get("index_name") or params.get("index_id") or "index"


def describe_parameters(fn: F) -> F:
    """Append an ``Args:`` section built from each parameter's ``Annotated`` ``Field(description=...)``.

    Apply it under ``@flow``. A function whose docstring already has an ``Args:`` section is
    left alone.
    """
    doc = inspect.getdoc(fn) or ""
    if "\nArgs:\n" in f"\n{doc}":
        return fn
    lines = [
        f"    {name}: {description}"
        for name, parameter in inspect.signature(fn, eval_str=True).parameters.items()
        if (description := _description(parameter.annotation))
    ]
    if lines:
        fn.__doc__ = "\n".join([doc, "", "Args:", *lines]).lstrip("\n")
    return fn


def _description(annotation: Any) -> str | None:
    if get_origin(annotation) is not Annotated:
        return None
    for meta in get_args(annotation)[1:]:
        if isinstance(meta, FieldInfo) and meta.description:
            return " ".join(meta.description.split())
    return None
