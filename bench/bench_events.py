"""Event-driven latency: how soon an arrival and a finished indexing reach Prefect as events, with 0 polls.

    python -m bench.bench_events [--videos 4] [--latency 2] [--arrivals 20]

One real Prefect server (``prefect server start``), ``reelscribe webhooks serve`` and
``reelscribe watch`` as child processes, the real local server sending webhooks, moto's S3 + SQS.

- **Completions**: N videos are submitted (``POST /tasks``) and never polled; the figure is the
  Prefect event's ``received`` time minus the moment the server marked the task ready (its ``updated_at``),
  and the server's count of ``GET /tasks/{id}`` per video (0 is the goal; the polling wait of
  BENCHMARKS section 3 pays 1.67 at 2 s indexing). Same machine, same clock.
- **Arrivals**: M objects put into a notified bucket; the figure is the event's ``received`` time
  minus the ``put_object`` call's return, against the hourly schedule's expected wait (30 min).

What is not measured: the land step after the event (the pipeline does not yet land on the
completion event; README "Event-driven", "Not built yet").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import requests

from bench.common import local_server, machine_line, save_result, server_tasks, silent_videos

HOURLY_EXPECTED_WAIT_S = 30 * 60


def _received(event: dict) -> float:
    return datetime.fromisoformat(event["received"].replace("Z", "+00:00")).timestamp()


def _events(api_url: str, name: str, prefix: str, count: int, timeout: float = 300) -> list[dict]:
    body = {"filter": {"event": {"name": [name]}, "resource": {"id_prefix": [prefix]}}, "limit": 50}
    deadline = time.monotonic() + timeout
    while True:
        found = requests.post(f"{api_url}/events/filter", json=body, timeout=30).json()["events"]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(found)} of {count} {name} events within {timeout} s")
        time.sleep(0.2)


def _wait_port(url: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def completions(api_url: str, env: dict, children, videos: int, latency: float) -> dict:
    from reelscribe.server.launcher import free_port
    from tests.prockit import BIN

    secret = uuid.uuid4().hex
    port = free_port()
    children.start("receiver", [str(BIN / "reelscribe"), "webhooks", "serve", "--port", str(port), "--secret-env", "BENCH_SECRET"],
                   {**env, "BENCH_SECRET": secret})
    _wait_port(f"http://127.0.0.1:{port}")
    os.environ["BENCH_WEBHOOK_SECRET"] = secret  # the server child reads its secret from its environment only
    hook = ("--webhook-url", f"http://127.0.0.1:{port}/webhooks/twelvelabs", "--webhook-secret-env", "BENCH_WEBHOOK_SECRET",
            "--allow-url-network", "127.0.0.0/8")
    with local_server(latency=latency, workers=4, extra=hook) as server:
        headers = {"x-api-key": server.api_key}
        index = requests.post(f"{server.base_url}/indexes", headers=headers, timeout=30, json={
            "index_name": f"bench-events-{uuid.uuid4().hex[:8]}",
            "models": [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]}).json()["_id"]
        task_ids = []
        for path in silent_videos(videos, prefix="events"):
            with open(path, "rb") as handle:
                task_ids.append(requests.post(f"{server.base_url}/tasks", headers=headers, timeout=60,
                                              data={"index_id": index}, files={"video_file": (path.name, handle)}).json()["_id"])
        found = {e["resource"]["prefect.resource.name"]: e for e in _events(api_url, "twelvelabs.index.task.ready", "twelvelabs.task.", videos)}
        ready = {t.id: t.finished for t in server_tasks(server.base_url, server.api_key, index)}
        log = server.log_path.read_text(errors="replace")
        delays = [_received(found[t]) - ready[t] for t in task_ids]
        polls = [log.count(f"GET /v1.3/tasks/{t} ") for t in task_ids]
    return {"videos": videos, "latency_s": latency, "event_after_ready_mean_s": round(statistics.mean(delays), 3),
            "event_after_ready_max_s": round(max(delays), 3), "status_polls_per_video": statistics.mean(polls)}


def arrivals(api_url: str, env: dict, children, count: int) -> dict:
    import boto3
    from moto.server import ThreadedMotoServer

    from tests.prockit import BIN

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    aws = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1"}
    kwargs = dict(endpoint_url=aws["AWS_ENDPOINT_URL"], region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    sqs, s3 = boto3.client("sqs", **kwargs), boto3.client("s3", **kwargs)
    try:
        queue = sqs.create_queue(QueueName="arrivals")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.create_bucket(Bucket="inbox")
        s3.put_bucket_notification_configuration(Bucket="inbox", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        children.start("watcher", [str(BIN / "reelscribe"), "watch", "--queue", queue], {**env, **aws})
        s3.put_object(Bucket="inbox", Key="warm-up.mp4", Body=b"w")
        _events(api_url, "reelscribe.source.created", "s3://inbox/warm-up", 1)
        put_at = {}
        for i in range(count):
            s3.put_object(Bucket="inbox", Key=f"v/{i:03d}.mp4", Body=str(i).encode())
            put_at[f"s3://inbox/v/{i:03d}.mp4"] = time.time()
        found = _events(api_url, "reelscribe.source.created", "s3://inbox/v/", count)
        delays = [_received(e) - put_at[e["resource"]["prefect.resource.id"]] for e in found]
    finally:
        moto.stop()
    return {"arrivals": count, "event_after_put_mean_s": round(statistics.mean(delays), 3),
            "event_after_put_max_s": round(max(delays), 3), "hourly_expected_wait_s": HOURLY_EXPECTED_WAIT_S,
            "speed_up_vs_hourly": round(HOURLY_EXPECTED_WAIT_S / statistics.mean(delays), 1)}


def main() -> None:
    from tests.prockit import Children, start_prefect_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--arrivals", type=int, default=20)
    args = parser.parse_args()
    print(machine_line(), flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-events-"))
    children = Children(scratch)
    try:
        api_url, env = start_prefect_server(children, scratch / "prefect-home")
        figures = {"completions": completions(api_url, env, children, args.videos, args.latency),
                   "arrivals": arrivals(api_url, env, children, args.arrivals)}
    finally:
        children.stop_all()
    print(json.dumps(figures, indent=2))
    save_result("events", figures)


if __name__ == "__main__":
    main()
