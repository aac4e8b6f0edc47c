"""Object stores checked up front: a missing driver, an unknown bucket or refused credentials is one
line naming the fix, before any index is made or video uploaded; credentials from a Prefect block."""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
import uuid

import fsspec.config
import pytest
import requests

from reelscribe.core.errors import StoreError
from reelscribe.core.sources import discover
from reelscribe.core.stores import check_lake
from reelscribe.server.launcher import free_port
from tests.conftest import JFK
from tests.polling import wait_until
from tests.prockit import BIN, ROOT


@pytest.fixture(scope="module")
def strict_moto():
    """moto that checks every request's credentials (only its IAM users exist; none here)."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        assert process.poll() is None, "moto server exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_until(listening, 60, "the moto server to listen", 0.2)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(30)


def test_refused_credentials_are_one_line_with_the_fix(strict_moto, monkeypatch):
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    monkeypatch.setenv("AWS_ENDPOINT_URL", strict_moto)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "not-a-real-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(StoreError) as refused:
        check_lake("s3://some-bucket/lake")
    message = str(refused.value)
    assert message.startswith("s3://some-bucket/lake: the store refused the credentials")
    assert "AWS_ACCESS_KEY_ID" in message and "\n" not in message

    _, problems = discover(["s3://some-bucket/inbox/"])
    assert [p.message.split(" (")[0] for p in problems] == ["the store refused the credentials"]


def test_unknown_bucket_and_missing_driver_are_named_with_their_fix(s3_bucket):
    check_lake(s3_bucket.url("lake"))  # an existing bucket passes, and the probe leaves nothing
    assert s3_bucket.keys() == []

    missing = f"missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(StoreError, match=rf"bucket '{missing}' does not exist .*`aws s3 mb s3://{missing}`"):
        check_lake(f"s3://{missing}/lake")
    with pytest.raises(StoreError, match=r"no driver for gs:// is installed; install it with `pip install gcsfs`"):
        check_lake("gs://somewhere/lake")

    _, problems = discover([f"s3://{missing}/inbox/", "gs://somewhere/inbox/"])
    assert [p.source for p in problems] == [f"s3://{missing}/inbox/", "gs://somewhere/inbox/"]
    assert "does not exist" in problems[0].message and "pip install gcsfs" in problems[1].message


def test_the_cli_stops_before_the_index_is_made(api, s3_env):
    """A user's first try: `reelscribe run … --out s3://…` with a bucket that is not there."""
    name = f"nobucket-{uuid.uuid4().hex[:8]}"
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [str(BIN / "reelscribe"), "run", str(JFK), "--out", f"s3://{missing}/lake", "--index-name", name],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"reelscribe: error: s3://{missing}/lake: the bucket '{missing}' does not exist or is not visible with "
        f"these credentials; create it (e.g. `aws s3 mb s3://{missing}`) or fix the location"
    ]
    indexes = requests.get(f"{api.base_url}/indexes", params={"index_name": name}, headers={"x-api-key": api.api_key}, timeout=10)
    assert indexes.json()["data"] == []


def _save_block(kind: str, endpoint_url: str) -> str:
    """A storage block of ``kind`` holding moto's fake keys and endpoint, saved on the Prefect server; its slug."""
    from prefect_aws import AwsCredentials, S3Bucket
    from prefect_aws.client_parameters import AwsClientParameters

    from reelscribe.tasks.storage import ObjectStoreCredentials
    from tests.s3kit import FAKE_KEY_ID, FAKE_SECRET

    name = f"store-{uuid.uuid4().hex[:8]}"
    aws = AwsCredentials(
        aws_access_key_id=FAKE_KEY_ID, aws_secret_access_key=FAKE_SECRET, region_name="us-east-1",
        aws_client_parameters=AwsClientParameters(endpoint_url=endpoint_url),
    )
    if kind == "aws-credentials":
        aws.save(name)
    elif kind == "s3-bucket":
        S3Bucket(bucket_name="any", credentials=aws).save(name)
    else:
        ObjectStoreCredentials(
            aws_access_key_id=FAKE_KEY_ID, aws_secret_access_key=FAKE_SECRET, endpoint_url=endpoint_url, region_name="us-east-1"
        ).save(name)
    return f"{kind}/{name}"


@pytest.mark.usefixtures("prefect_engine")
@pytest.mark.parametrize("kind", ["aws-credentials", "reelscribe-object-store"])
def test_a_storage_block_supplies_the_credentials_where_the_environment_has_none(kind, api, s3_bucket, moto_s3, monkeypatch):
    """The process's own AWS variables lead nowhere; only the block's endpoint and keys work:
    prefect-aws's ``AwsCredentials`` (the first choice) and reelscribe's own block."""
    from reelscribe.flows.transcribe import transcribe_videos
    from tests.s3kit import FAKE_SECRET

    slug = _save_block(kind, moto_s3.endpoint_url)
    s3_bucket.put("inbox/jfk.mp4", JFK.read_bytes())
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there

    defaults = copy.deepcopy(fsspec.config.conf)
    reports = transcribe_videos(
        sources=[s3_bucket.url("inbox/")], index_name=f"block-{uuid.uuid4().hex[:8]}", out=s3_bucket.url("lake"),
        storage_block=slug,
    )
    assert fsspec.config.conf == defaults, "the block's options are passed to each filesystem, never set as fsspec's defaults"
    assert [(r.source, r.status) for r in reports] == [(s3_bucket.url("inbox/jfk.mp4"), "landed")]
    tables = sorted(k.split("/")[1] for k in s3_bucket.keys("lake") if k.endswith(".parquet"))
    assert tables == ["segments", "sentences", "sources", "utterances", "videos", "words"]
    assert FAKE_SECRET not in str(reports)


@pytest.mark.usefixtures("prefect_engine")
def test_an_s3_bucket_block_lends_its_credentials_and_a_missing_block_is_named(monkeypatch):
    from reelscribe.core.errors import ConfigError
    from reelscribe.tasks.storage import storage_options
    from tests.s3kit import FAKE_KEY_ID, FAKE_SECRET

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    endpoint = "http://127.0.0.1:9"
    options = storage_options(_save_block("s3-bucket", endpoint))
    assert options == {"key": FAKE_KEY_ID, "secret": FAKE_SECRET, "client_kwargs": {"region_name": "us-east-1", "endpoint_url": endpoint}}
    with pytest.raises(ConfigError, match="cannot load storage block 'aws-credentials/nowhere'"):
        storage_options("aws-credentials/nowhere")
