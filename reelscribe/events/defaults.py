"""The receiver's defaults, importable without FastAPI or Prefect (the CLI's help shows them)."""

PATH = "/webhooks/twelvelabs"
MAX_BODY_BYTES = 64 * 1024
"""A Twelve Labs delivery is well under 1 KiB; anything near this bound is not one."""
PORT = 8787
SECRET_ENV = "TWELVELABS_WEBHOOK_SECRET"
