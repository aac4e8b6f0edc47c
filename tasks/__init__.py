"""Prefect tasks: one per pipeline step, each a thin wrapper adding retries, names and logs to a core call."""
