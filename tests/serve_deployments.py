"""Serve deployments of deployments/prefect.yaml with a test's parameters, in a child process.

``python -m tests.serve_deployments '{"land-indexed": {<parameters>}, ...}' [--in-process]``: each named
deployment with its triggers as declared and these parameters, its schedules left out (a run at the
top of the hour or of ten minutes would do what a test or benchmark means the trigger to do).
"""

from __future__ import annotations

import json
import sys

from reelscribe.deployments.serve import load_spec, serve_specs

if __name__ == "__main__":
    wanted = json.loads(sys.argv[1])
    specs = {spec["name"]: spec for spec in load_spec()}
    serve_specs([{**specs[name], "parameters": parameters, "schedules": []} for name, parameters in wanted.items()],
                in_process="--in-process" in sys.argv[2:])
