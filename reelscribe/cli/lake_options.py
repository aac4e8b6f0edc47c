"""Options that ``export`` and ``search`` share: which index of the lake, by id or by name."""

from __future__ import annotations

import argparse


def add_index_options(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--index-id", help="only this index (default: every index in the lake)")
    which.add_argument(
        "--index-name", help="only the index of this name, as the lake's videos record it (no API needed)"
    )
