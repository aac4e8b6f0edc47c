"""The S3 filesystem every ``s3://`` location opens with: botocore's timestamps, parsed faster."""

from __future__ import annotations

import pickle

import pytest
import s3fs
from botocore.utils import parse_timestamp

from reelscribe.core.s3_store import S3Store, parse_s3_timestamp
from reelscribe.core.stores import filesystem

OPTIONS = {"key": "k", "secret": "s", "client_kwargs": {"endpoint_url": "http://127.0.0.1:9"}}


@pytest.mark.parametrize(
    "value",
    ["2026-12-01T19:01:12.000Z", "2026-12-01T19:01:12Z", "2026-12-01T19:01:12.123456+02:00",
     "Tue, 01 Dec 2026 19:01:12 GMT", 1_700_000_000, "1700000000", "2026-12-01T19:01:12"],
)
def test_timestamps_read_as_botocore_reads_them(value):
    ours, botocores = parse_s3_timestamp(value), parse_timestamp(value)
    assert ours == botocores and ours.utcoffset() == botocores.utcoffset()


def test_an_s3_location_opens_an_s3store_that_pickles_and_clears_with_s3fs():
    fs, path = filesystem("s3://bucket/in/", **OPTIONS)
    assert isinstance(fs, S3Store) and path == "bucket/in" and fs.retries == 1
    assert pickle.loads(pickle.dumps(fs)) is fs  # a Dask worker gets the same filesystem back
    s3fs.S3FileSystem.clear_instance_cache()  # what a test does after changing the endpoint
    assert filesystem("s3://bucket/in/", **OPTIONS)[0] is not fs
