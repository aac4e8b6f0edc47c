"""Prefect flows: the batch job (`transcribe_videos`) and the incremental one."""
