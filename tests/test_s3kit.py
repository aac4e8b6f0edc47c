"""The moto S3 fixture behaves like S3 where the project relies on it."""

from __future__ import annotations

import fsspec
import pytest


def test_standard_aws_variables_reach_moto_and_conditional_create_is_enforced(s3_bucket):
    url = s3_bucket.put("inbox/a.mp4", b"abc")
    fs, path = fsspec.core.url_to_fs(url)  # no options: the standard AWS chain finds moto
    assert fs.cat_file(path) == b"abc"

    marker = f"{s3_bucket.name}/claims/x.json"
    fs.pipe_file(marker, b"first", mode="create")
    with pytest.raises(FileExistsError):
        fs.pipe_file(marker, b"second", mode="create")
    with pytest.raises(FileExistsError), fs.open(marker, "xb") as handle:
        handle.write(b"third")

    assert s3_bucket.keys() == ["claims/x.json", "inbox/a.mp4"]
    assert s3_bucket.fs.cat_file(marker) == b"first"
