"""``reelscribe watch --queue URL``: turn S3 arrivals (an SQS queue of bucket notifications) into Prefect events.

A plain long-running process rather than a served Prefect flow: it holds an SQS long poll open all
the time, and as a flow that would be one run that never ends (no useful state, no retries, a
worker slot held forever). Run it under systemd, a container or ``nohup``; it is stateless, so a
restart loses nothing the queue does not keep.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading


def register(commands: argparse._SubParsersAction) -> None:
    watch = commands.add_parser(
        "watch",
        help="turn S3 ObjectCreated notifications from an SQS queue into reelscribe.source.created Prefect events",
        description=(
            "Long-poll the queue; each s3:ObjectCreated:* record becomes a reelscribe.source.created event "
            "(resource s3://bucket/key) on the Prefect API of the current profile. A message is deleted only "
            "once Prefect accepted its events. AWS credentials, region and endpoint come from the standard "
            "AWS variables and files."
        ),
    )
    watch.add_argument("--queue", required=True, metavar="SQS_URL", help="the queue's URL (https://sqs.<region>.amazonaws.com/<account>/<name>)")
    watch.add_argument("--region", help="AWS region of the queue (default: from the queue URL, else the AWS configuration)")
    watch.set_defaults(handler=watch_queue)


def _stop_now(*_: object) -> None:
    """Stop at once, even inside a 20 s long poll: a message received but not yet deleted comes back
    after its visibility timeout, and its event (same id) lands nothing twice."""
    raise KeyboardInterrupt


def _fail(message: str) -> int:
    print(f"reelscribe: error: {message}", file=sys.stderr)
    return 2


def watch_queue(args: argparse.Namespace) -> int:
    import urllib.parse

    if urllib.parse.urlsplit(args.queue).scheme not in ("http", "https"):
        return _fail(f"--queue must be the queue's http(s) URL, not {args.queue!r}")
    from reelscribe.cli.service_log import log_to_stderr
    from reelscribe.events.prefect_events import PrefectApiSink, PrefectApiUnavailable, require_api
    from reelscribe.events.watcher import Watcher, queue_region, sqs_client

    try:  # before the queue is touched: a message taken with nowhere to send its event would be lost
        require_api()
    except PrefectApiUnavailable as exc:
        return _fail(str(exc))
    log_to_stderr()
    queue = sqs_client(args.region or queue_region(args.queue))
    try:
        queue.get_queue_attributes(QueueUrl=args.queue, AttributeNames=["QueueArn"])
    except Exception as exc:
        return _fail(f"--queue {args.queue}: cannot read the queue ({type(exc).__name__}: {exc})")
    signal.signal(signal.SIGTERM, _stop_now)
    print(f"reelscribe: watching {args.queue}", file=sys.stderr, flush=True)
    with PrefectApiSink() as sink:
        try:
            Watcher(args.queue, queue, sink).run(threading.Event())
        except KeyboardInterrupt:
            pass
    return 0
