"""Where the long-running commands (``watch``, ``webhooks serve``) log: INFO lines on stderr.

Without it their own loggers (an arrival, a refused or emitted webhook) would be dropped: only
uvicorn configures logging, and only for its own loggers.
"""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format=FORMAT, stream=sys.stderr)
