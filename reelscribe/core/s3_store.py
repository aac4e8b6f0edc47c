"""The S3 filesystem every ``s3://`` location is opened with (``stores.filesystem``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from aiobotocore.session import AioSession
from botocore.utils import parse_timestamp
from s3fs import S3FileSystem

from reelscribe.core import s3_retry
from reelscribe.core.settings import default_retry_policy


class S3Store(S3FileSystem):
    """s3fs whose clients retry as ``s3_retry`` says (a 429 too) and read S3's ISO 8601 timestamps
    with ``datetime.fromisoformat``.

    botocore parses every timestamp with ``dateutil``: about half of the client's CPU for a
    1,000-key listing page, which a run pays for every key of a growing bucket (BENCHMARKS 13).
    The parser and the retry handler are set on the clients' own session, made here when s3fs
    would make it: no other client is touched.
    """

    def __init__(self, *args: Any, session: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, session=session, **kwargs)
        if session is None:
            self.session = AioSession(**self.kwargs)
            self.session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_s3_timestamp)
            policy = default_retry_policy()
            attempts = s3_retry.max_attempts_of(self.config_kwargs, policy.max_attempts)
            if attempts is not None:
                s3_retry.install(self.session, replace(policy, max_attempts=attempts))


def parse_s3_timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp with its zone (S3's XML) by the C parser, any other botocore's way."""
    if isinstance(value, str) and "T" in value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return parse_timestamp(value)


# One instance cache with s3fs's own, so ``S3FileSystem.clear_instance_cache()`` (after a change of
# endpoint or credentials in the environment) clears these too; the cache keys name the class.
S3Store._cache = S3FileSystem._cache
