"""Events in and out of Prefect: the Twelve Labs webhook receiver and the S3 → SQS arrivals watcher.

It uses the core and Prefect; the server never imports it (pyproject's import-linter contracts).
"""
