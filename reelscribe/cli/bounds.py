"""``--max-videos`` and ``--max-video-minutes``: one run's bounds, checked by argparse (exit 2)."""

from __future__ import annotations

import argparse
import math


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def non_negative_minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of minutes, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number not below 0, got {text}")
    return value


def add_bound_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-videos", type=non_negative_int, metavar="N",
                        help="send at most N new videos, oldest first; the rest are deferred to the next run")
    parser.add_argument("--max-video-minutes", type=non_negative_minutes, metavar="M",
                        help="send at most M minutes of new video, oldest first (needs PyAV); the rest are deferred")
