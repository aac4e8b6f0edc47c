"""``python -m reelscribe.server``: see ``server/cli.py`` and ``server/README.md``."""

import sys

from reelscribe.server.cli import main

sys.exit(main())
