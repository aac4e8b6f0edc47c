"""Options that ``export`` and ``search`` share: which index of the lake, and how it is named."""

from __future__ import annotations

import argparse

from reelscribe.core.errors import ConfigError, NotInLake


def add_index_options(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--index-id", help="only this index (default: every index in the lake)")
    which.add_argument("--index-name", help="only the index of this name, looked up on the API (needs TWELVELABS_BASE_URL or --api-url)")
    parser.add_argument("--api-url", help="API base URL with version, to look --index-name up")


def index_id_of(args: argparse.Namespace) -> str | None:
    """The index asked for: ``--index-id``, or ``--index-name`` resolved by the API that holds it.

    The lake keeps index ids only, so a name needs the server; it is never created here.
    """
    if args.index_id or not args.index_name:
        return args.index_id
    from reelscribe.core.client import TwelveLabsClient
    from reelscribe.core.settings import Settings

    settings = Settings.from_env(api_url=args.api_url)
    if settings is None:
        raise ConfigError(
            "--index-name needs the API that holds the index to look its id up "
            "(TWELVELABS_BASE_URL and TWELVE_LABS_API_KEY, or --api-url); or give --index-id"
        )
    with TwelveLabsClient(settings) as client:
        found = client.find_index_by_name(args.index_name)
    if found is None:
        raise NotInLake(f"no index named {args.index_name!r} on {settings.base_url}")
    return found.id
