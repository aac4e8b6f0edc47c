"""Resolve which server to talk to and with which key, without the key ever being a parameter."""

from __future__ import annotations

from pydantic import SecretStr

from reelscribe.core.errors import ConfigError
from reelscribe.core.settings import API_KEY_ENV, BASE_URL_ENV, DEFAULT_BASE_URL, Environment, Settings
from reelscribe.tasks.run_context import RunContext


def resolve_settings(api_url: str | None, credentials_block: str | None) -> Settings:
    """Settings from a block (``secret/<name>`` or ``twelve-labs-credentials/<name>``), else the env.

    Order: the block's key (and its URL unless ``api_url`` is given), then the key the caller
    handed the run (``RunContext.api_key``: the CLI's embedded server), then ``TWELVE_LABS_API_KEY``
    and ``TWELVELABS_BASE_URL``. The key is loaded at run time, so it never sits in a deployment's
    parameters.
    """
    if credentials_block:
        return _from_block(credentials_block, api_url)
    context = RunContext.get()
    handed = context.api_key if context is not None else None
    settings = Settings.from_env(api_url=api_url, api_key=handed.get_secret_value() if handed else None)
    if settings is None:
        raise ConfigError(
            f"no API configured: pass api_url and a credentials block, or set {BASE_URL_ENV} and "
            f"{API_KEY_ENV}; `reelscribe serve` runs a local server and `reelscribe run` starts one itself"
        )
    return settings


def _from_block(slug: str, api_url: str | None) -> Settings:
    from prefect.blocks.core import Block
    from prefect.blocks.system import Secret

    from reelscribe.tasks.credentials import TwelveLabsCredentials

    if "/" not in slug:
        raise ConfigError(
            f"credentials block {slug!r} must be a slug like 'secret/<name>' or 'twelve-labs-credentials/<name>'"
        )
    try:
        block = Block.load(slug)
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"cannot load credentials block {slug!r}: {exc}") from exc
    if isinstance(block, TwelveLabsCredentials):
        return Settings(base_url=api_url or block.base_url, api_key=block.api_key)
    if isinstance(block, Secret):
        url = api_url or Environment().base_url or DEFAULT_BASE_URL
        return Settings(base_url=url, api_key=SecretStr(str(block.get())))
    raise ConfigError(f"block {slug!r} is a {type(block).__name__}, not a Secret or Twelve Labs Credentials block")
