"""``python -m server``: see ``server/cli.py`` and ``server/README.md``."""

import sys

from server.cli import main

sys.exit(main())
