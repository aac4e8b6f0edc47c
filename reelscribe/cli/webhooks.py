"""``reelscribe webhooks serve``: run the Twelve Labs webhook receiver (reelscribe/events/receiver.py).

The signing secret is read from a Prefect Secret block or an environment variable, never from the
command line (where any local user could read it in the process list).
"""

from __future__ import annotations

import argparse
import os
import sys

from reelscribe.events.defaults import MAX_BODY_BYTES, PATH, PORT, SECRET_ENV

SECRET_BLOCK_PREFIX = "secret/"


def register(commands: argparse._SubParsersAction) -> None:
    webhooks = commands.add_parser("webhooks", help="receive Twelve Labs webhooks as Prefect events")
    sub = webhooks.add_subparsers(dest="webhooks_command", required=True, metavar="WEBHOOKS_COMMAND")
    serve = sub.add_parser(
        "serve",
        help=f"listen for signed index.task.ready/failed deliveries on POST {PATH}",
        description=(
            "Verify each delivery's TL-Signature and emit twelvelabs.index.task.ready / .failed to the Prefect API "
            "of the current profile (PREFECT_API_URL); answer 2xx only once Prefect accepted the event."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=PORT, help=f"TCP port (default: {PORT})")
    secret = serve.add_mutually_exclusive_group()
    secret.add_argument("--secret-block", metavar="SLUG", help="Prefect Secret block with the webhook secret: secret/<name>")
    secret.add_argument(
        "--secret-env", metavar="VAR", help=f"environment variable with the webhook secret (default: {SECRET_ENV})"
    )
    serve.add_argument("--max-body", type=int, default=MAX_BODY_BYTES, help=f"largest accepted body, bytes (default: {MAX_BODY_BYTES})")
    serve.set_defaults(handler=serve_webhooks)


def _fail(message: str) -> int:
    print(f"reelscribe: error: {message}", file=sys.stderr)
    return 2


def _secret(args: argparse.Namespace) -> str:
    """The secret, or ValueError naming where it was looked for."""
    if args.secret_block:
        if not args.secret_block.startswith(SECRET_BLOCK_PREFIX) or args.secret_block == SECRET_BLOCK_PREFIX:
            raise ValueError(f"--secret-block must be secret/<name>, not {args.secret_block!r}")
        from prefect.blocks.system import Secret

        name = args.secret_block.removeprefix(SECRET_BLOCK_PREFIX)
        try:
            value = Secret.load(name).get()
        except ValueError:
            raise ValueError(f"--secret-block {args.secret_block}: no such Secret block") from None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"--secret-block {args.secret_block}: the block holds no text secret")
        return value.strip()
    variable = args.secret_env or SECRET_ENV
    value = os.environ.get(variable, "").strip()
    if not value:
        raise ValueError(f"no webhook secret: set ${variable} or give --secret-block secret/<name>")
    return value


def serve_webhooks(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        return _fail("--port must be from 0 to 65535")
    if args.max_body < 1:
        return _fail("--max-body must be at least 1")
    from reelscribe.events.prefect_events import PrefectApiUnavailable, require_api

    try:  # first: a delivery answered 2xx with nowhere to send its event would be lost (and a Secret block is read there)
        require_api()
        secret = _secret(args)
    except PrefectApiUnavailable as exc:
        return _fail(str(exc))
    except ValueError as exc:
        return _fail(str(exc))
    import uvicorn

    from reelscribe.cli.service_log import log_to_stderr
    from reelscribe.events.prefect_events import PrefectApiSink
    from reelscribe.events.receiver import create_receiver

    log_to_stderr()
    with PrefectApiSink() as sink:
        app = create_receiver(secret, sink, max_body=args.max_body)
        print(f"reelscribe: receiving webhooks on http://{args.host}:{args.port}{PATH}", file=sys.stderr)
        server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="info", server_header=False))
        server.run()
    return 0 if server.started else 1
