"""The command's exit statuses and its one-line usage error, shared by every subcommand's module."""

from __future__ import annotations

import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command Ctrl-C stopped


def usage_error(message: str) -> int:
    print(f"reelscribe: error: {message}", file=sys.stderr)
    return EXIT_USAGE
