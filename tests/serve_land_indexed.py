"""Serve the `land-indexed` deployment of deployments/prefect.yaml with a test's parameters (a child process).

``python -m tests.serve_land_indexed '<parameters as JSON>'``: its trigger as declared, its
schedule left out (a sweep at the top of ten minutes would land what the test means the trigger to).
"""

from __future__ import annotations

import json
import sys

from prefect import serve

from reelscribe.deployments.serve import load_spec, to_deployment

if __name__ == "__main__":
    (spec,) = [s for s in load_spec() if s["name"] == "land-indexed"]
    serve(to_deployment({**spec, "parameters": json.loads(sys.argv[1]), "schedules": []}))
