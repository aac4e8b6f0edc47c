"""Object-store credentials for deployments: a Prefect block named by a flow parameter.

A worker machine may have no AWS set-up of its own. The flow names a block: first choice, the
blocks Prefect users already keep AWS credentials in, from ``prefect-aws`` (``aws-credentials/<name>``,
or ``s3-bucket/<name>`` for its credentials); or reelscribe's own ``reelscribe-object-store/<name>``,
kept so deployments that name one keep working. Each task that touches the store loads it where it runs
(the flow's process or a Dask worker, ``store_options``) and hands its values to every
filesystem it opens there (``StoreOptions``: s3fs's arguments, which ``DeltaLake`` translates for
delta-rs, and pyarrow reads through those filesystems). So the secret never is a parameter,
never crosses to a worker in a task's arguments, and no process-wide default is written.
Without a block, the standard AWS chain applies (``AWS_*`` variables, ``AWS_PROFILE``, config
files, instance roles).
"""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from reelscribe.core.errors import ConfigError
from reelscribe.core.stores import NO_STORE_OPTIONS, StoreOptions

SLUG_PREFIX = "reelscribe-object-store/"
AWS_CREDENTIALS = "aws-credentials/"
S3_BUCKET = "s3-bucket/"


class ObjectStoreCredentials(Block):
    """Credentials and endpoint of S3 or an S3-compatible store (MinIO, R2, Ceph...).

    Example:
        Save one, then pass ``storage_block="reelscribe-object-store/lake"`` to a flow:
        ```python
        from reelscribe.tasks.storage import ObjectStoreCredentials
        ObjectStoreCredentials(aws_access_key_id="...", aws_secret_access_key="...").save("lake")
        ```
    """

    _block_type_name = "Reelscribe Object Store"
    _block_type_slug = "reelscribe-object-store"
    _description = "Credentials and endpoint of the S3-compatible store holding videos and the lake."

    aws_access_key_id: str | None = Field(default=None, title="Access key id")
    aws_secret_access_key: SecretStr | None = Field(default=None, title="Secret access key")
    aws_session_token: SecretStr | None = Field(default=None, title="Session token")
    endpoint_url: str | None = Field(default=None, title="Endpoint URL", description="Only for S3-compatible stores.")
    region_name: str | None = Field(default=None, title="Region")

    def storage_options(self) -> dict[str, Any]:
        """s3fs constructor arguments; empty fields are left to the standard AWS chain."""
        options: dict[str, Any] = {}
        if self.aws_access_key_id:
            options["key"] = self.aws_access_key_id
        if self.aws_secret_access_key:
            options["secret"] = self.aws_secret_access_key.get_secret_value()
        if self.aws_session_token:
            options["token"] = self.aws_session_token.get_secret_value()
        client = {k: v for k, v in (("endpoint_url", self.endpoint_url), ("region_name", self.region_name)) if v}
        if client:
            options["client_kwargs"] = client
        return options


def aws_storage_options(credentials: Any) -> dict[str, Any]:
    """s3fs arguments from a prefect-aws credentials block (``AwsCredentials``, ``MinIOCredentials``).

    The block's own boto3 session resolves what it holds (keys, a profile, an assumed role), so
    every way the block can be filled works; an assumed role's keys are fetched once per task.
    """
    session = credentials.get_boto3_session()
    found = session.get_credentials()
    options: dict[str, Any] = {}
    if found is not None:
        frozen = found.get_frozen_credentials()
        options.update(key=frozen.access_key, secret=frozen.secret_key)
        if frozen.token:
            options["token"] = frozen.token
    client = {"region_name": session.region_name, "endpoint_url": credentials.aws_client_parameters.endpoint_url}
    client = {k: v for k, v in client.items() if v}
    if client:
        options["client_kwargs"] = client
    return options


def storage_options(slug: str) -> dict[str, Any]:
    """The s3fs arguments the block ``slug`` holds; raises :class:`ConfigError` naming the slug."""
    try:
        if slug.startswith(AWS_CREDENTIALS):
            from prefect_aws import AwsCredentials

            return aws_storage_options(AwsCredentials.load(slug.removeprefix(AWS_CREDENTIALS)))
        if slug.startswith(S3_BUCKET):
            from prefect_aws import S3Bucket

            return aws_storage_options(S3Bucket.load(slug.removeprefix(S3_BUCKET)).credentials)
        if slug.startswith(SLUG_PREFIX):
            return ObjectStoreCredentials.load(slug.removeprefix(SLUG_PREFIX)).storage_options()
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"cannot load storage block {slug!r}: {exc}; save it first (README: Run it on many machines)") from exc
    raise ConfigError(
        f"storage block {slug!r} must be a slug like '{AWS_CREDENTIALS}<name>', '{S3_BUCKET}<name>' or '{SLUG_PREFIX}<name>'"
    )


def store_options(slug: str | None) -> StoreOptions:
    """The options of the run's ``s3://`` locations: the block ``slug``'s, or none (the standard chain)."""
    return StoreOptions(storage_options(slug)) if slug else NO_STORE_OPTIONS
