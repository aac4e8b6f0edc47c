"""Event-driven end to end: arrival → landed in seconds with 0 status polls, against the hourly schedule and the polling wait.

    python -m bench.bench_events [--videos 4] [--latency 2] [--serve both|in-process|runner]

One run, all real parts on loopback: a `prefect server start`; moto's S3 + SQS with the bucket
notifying the queue; `reelscribe watch`; `reelscribe webhooks serve`; the local server with
`--webhook-url` (and `--fault-latency`, the indexing time); and the `hourly` and `land-indexed`
deployments of `deployments/prefect.yaml`, their triggers as declared, served by one process
(`tests/serve_deployments.py`, polling every second), `hourly` set to `wait: webhook`. Served two
ways in turn, each with a fresh set of parts: `--in-process` (each run a thread of the serving
process) and Prefect's runner (a subprocess per run, as `make serve`); `--serve` picks one.

- **Arrival → landed**: N videos are put into the watched prefix at once (a burst); each is timed
  from its `put_object` to its `videos` row (`retrieved_at`), and that is compared with its own
  indexing time on the server (task `created_at` → `updated_at`): the goal is landed within
  indexing + 15 s. The baseline: the hourly schedule's expected wait (30 min) plus the same work.
- **Status requests per video** (`GET /tasks/{id}` in the server's access log): the event-driven
  videos against the same number landed by the polling wait (`wait: poll`) in the same run.
- The legs: arrival → `reelscribe.source.created` stored; task ready → `twelvelabs.index.task.ready`
  received; how many incremental runs the burst started (the trigger's debounce).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import requests

from bench.common import local_server, machine_line, save_result, server_tasks, silent_videos

HOURLY_EXPECTED_WAIT_S = 30 * 60
GOAL_OVERHEAD_S = 15.0


FINAL = ("COMPLETED", "FAILED", "CRASHED")


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _received(event: dict) -> float:
    return _timestamp(event["received"])


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


def _landed(out: Path) -> list[dict]:
    import duckdb

    if not list(out.glob("videos/**/*.parquet")):
        return []
    return duckdb.sql(
        f"select source, index_id, task_id, epoch(retrieved_at) as retrieved "
        f"from read_parquet('{out}/videos/**/*.parquet', hive_partitioning = true)"
    ).df().to_dict("records")


def _polls(log: str, task_ids: list[str]) -> float:
    return statistics.mean(log.count(f"GET /v1.3/tasks/{t} ") for t in task_ids)


class Bucket:
    """moto's S3 + SQS in this process; the bucket notifies the queue of every ObjectCreated.

    moto keeps its buckets and queues per process, not per server: each set of parts gets a bucket
    and a queue of its own name, or the second would find the first one's videos."""

    def __init__(self, name: str) -> None:
        self.name = name
        import boto3
        from moto.server import ThreadedMotoServer

        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
                    "AWS_DEFAULT_REGION": "us-east-1"}
        kwargs = dict(endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
        sqs, self.s3 = boto3.client("sqs", **kwargs), boto3.client("s3", **kwargs)
        self.queue = sqs.create_queue(QueueName=f"arrivals-{name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.s3.create_bucket(Bucket=self.name)
        self.s3.put_bucket_notification_configuration(Bucket=self.name, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})

    def stop(self) -> None:
        self.moto.stop()


def polling_baseline(server, videos: int, scratch: Path) -> dict:
    """The same number of videos landed by the polling wait (in this process, against the bench's Prefect server)."""
    from reelscribe.flows.transcribe import transcribe_videos

    name = f"bench-events-poll-{uuid.uuid4().hex[:6]}"
    out = scratch / "lake-poll"
    os.environ["TWELVE_LABS_API_KEY"] = server.api_key  # the flow reads its key from the environment only
    reports = transcribe_videos(sources=[str(p) for p in silent_videos(videos, prefix="events-poll")], index_name=name,
                                out=str(out), api_url=server.base_url, upload="tasks", wait="poll")
    assert all(r.status == "landed" for r in reports), reports
    task_ids = [row["task_id"] for row in _landed(out)]
    return {"videos": len(task_ids), "status_polls_per_video": _polls(server.log_path.read_text(errors="replace"), task_ids)}


def event_driven(api_url: str, env: dict, children, server, bucket: Bucket, videos: int, scratch: Path, in_process: bool) -> dict:
    from tests.prockit import BIN

    out = scratch / "lake-events"
    index_name = f"bench-events-{uuid.uuid4().hex[:6]}"
    connection = {"out": str(out), "api_url": server.base_url, "credentials_block": None}
    served = {
        "hourly": {**connection, "source": f"s3://{bucket.name}/in/", "index_name": index_name, "table_format": "parquet",
                   "upload": "tasks", "wait": "webhook"},
        "land-indexed": connection,
    }
    child_env = {**env, **bucket.env, "TWELVE_LABS_API_KEY": server.api_key, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    children.start("serve", [sys.executable, "-m", "tests.serve_deployments", json.dumps(served), *(["--in-process"] if in_process else [])], child_env)
    children.start("watcher", [str(BIN / "reelscribe"), "watch", "--queue", bucket.queue], {**env, **bucket.env})
    _wait_automations(api_url, {"reelscribe-new-objects", "reelscribe-land-indexed"})
    # Warm-up: one arrival outside the source starts a run that finds nothing; the burst comes once it is over.
    bucket.s3.put_object(Bucket=bucket.name, Key="warm-up/w.txt", Body=b"w")
    _events(api_url, "reelscribe.source.created", f"s3://{bucket.name}/warm-up/", 1)
    _wait_runs(api_url, "transcribe-new-videos", 1)

    put_at: dict[str, float] = {}
    for path in silent_videos(videos, prefix="events-arrival"):
        bucket.s3.upload_file(str(path), bucket.name, f"in/{path.name}")
        put_at[f"s3://{bucket.name}/in/{path.name}"] = time.time()
    deadline = time.monotonic() + 600
    while len(rows := _landed(out)) < videos:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(rows)} of {videos} landed within 600 s\n{children.tail('serve')}")
        time.sleep(0.2)
    arrivals = {e["resource"]["prefect.resource.id"]: _received(e) for e in _events(api_url, "reelscribe.source.created", f"s3://{bucket.name}/in/", videos)}
    ready_events = {e["resource"]["prefect.resource.name"]: _received(e) for e in _events(api_url, "twelvelabs.index.task.ready", "twelvelabs.task.", videos)}
    (index,) = {r["index_id"] for r in rows}
    tasks = {t.id: t for t in server_tasks(server.base_url, server.api_key, index)}
    land_runs = {r["parameters"]["completion"]["data"]["id"]: r for r in _flow_runs(api_url, "land-indexed")
                 if (r["parameters"].get("completion") or {}).get("data")}
    per_video = []
    for row in rows:
        task = tasks[row["task_id"]]
        arrived = put_at[row["source"]]
        per_video.append({
            "arrival_to_landed_s": row["retrieved"] - arrived,
            "indexing_s": task.seconds,
            "overhead_s": row["retrieved"] - arrived - task.seconds,
            "arrival_event_s": arrivals[row["source"]] - arrived,
            "arrival_to_submitted_s": task.created - arrived,
            "ready_event_s": ready_events[task.id] - task.finished,
            "ready_to_landed_s": row["retrieved"] - task.finished,
            "ready_to_land_run_created_s": _timestamp(land_runs[task.id]["created"]) - task.finished,
            "ready_to_land_run_started_s": _timestamp(land_runs[task.id]["start_time"]) - task.finished,
        })
    runs = len(_flow_runs(api_url, "transcribe-new-videos")) - 1
    log = server.log_path.read_text(errors="replace")

    def stat(key: str) -> dict:
        values = [v[key] for v in per_video]
        return {"mean": round(statistics.mean(values), 2), "max": round(max(values), 2)}

    overhead = stat("overhead_s")
    return {
        "videos": videos, "incremental_runs_started": runs,
        "arrival_to_landed_s": stat("arrival_to_landed_s"), "indexing_s": stat("indexing_s"), "overhead_s": overhead,
        "legs_s": {k: stat(k) for k in ("arrival_event_s", "arrival_to_submitted_s", "ready_event_s", "ready_to_land_run_created_s",
                                         "ready_to_land_run_started_s", "ready_to_landed_s")},
        "status_polls_per_video": _polls(log, list(tasks)),
        "per_video": [{k: round(v, 2) for k, v in sorted(video.items())} for video in sorted(per_video, key=lambda v: v["ready_to_landed_s"])],
        "hourly_expected_arrival_to_landed_s": round(HOURLY_EXPECTED_WAIT_S + stat("arrival_to_landed_s")["mean"] - overhead["mean"], 1),
        "goal_met": overhead["max"] <= GOAL_OVERHEAD_S,
    }


def _wait_automations(api_url: str, names: set[str]) -> None:
    deadline = time.monotonic() + 180
    while not names <= {a["name"] for a in requests.post(f"{api_url}/automations/filter", json={}, timeout=30).json()}:
        if time.monotonic() > deadline:
            raise RuntimeError(f"automations {sorted(names)} not created within 180 s")
        time.sleep(0.5)


def _flow_runs(api_url: str, flow_name: str) -> list[dict]:
    body = {"flows": {"name": {"any_": [flow_name]}}}
    return requests.post(f"{api_url}/flow_runs/filter", json=body, timeout=30).json()


def _wait_runs(api_url: str, flow_name: str, count: int) -> None:
    """Until ``count`` runs of the flow have ended and none is still to start or running."""
    deadline = time.monotonic() + 300
    while True:
        states = [r["state"]["type"] if r["state"] else None for r in _flow_runs(api_url, flow_name)]
        if len(states) >= count and all(s in FINAL for s in states):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} {flow_name} runs not ended within 300 s: {states}")
        time.sleep(0.5)


def measure(serve: str, args, with_polling: bool) -> dict:
    """One whole set of parts (its own Prefect server, bucket, receiver and local server) served one way."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from reelscribe.server.launcher import free_port
    from tests.prockit import BIN, Children, start_prefect_server

    scratch = Path(tempfile.mkdtemp(prefix=f"bench-events-{serve}-"))
    children = Children(scratch)
    bucket = Bucket(f"inbox-{serve}")
    try:
        api_url, env = start_prefect_server(children, scratch / "prefect-home")
        secret, port = uuid.uuid4().hex, free_port()
        children.start("receiver", [str(BIN / "reelscribe"), "webhooks", "serve", "--port", str(port), "--secret-env", "BENCH_SECRET"],
                       {**env, "BENCH_SECRET": secret})
        _wait_port(f"http://127.0.0.1:{port}")
        os.environ["BENCH_WEBHOOK_SECRET"] = secret  # the server child reads its secret from its environment only
        hook = ("--webhook-url", f"http://127.0.0.1:{port}/webhooks/twelvelabs", "--webhook-secret-env", "BENCH_WEBHOOK_SECRET",
                "--allow-url-network", "127.0.0.0/8")
        with local_server(latency=args.latency, workers=4, extra=hook) as server, temporary_settings(updates={PREFECT_API_URL: api_url}):
            figures = {"event_driven": event_driven(api_url, env, children, server, bucket, args.videos, scratch, serve == "in-process")}
            if with_polling:
                figures["polling"] = polling_baseline(server, args.videos, scratch)
    finally:
        children.stop_all()
        bucket.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--latency", type=float, default=2.0, help="the local server's extra indexing seconds per video")
    parser.add_argument("--serve", choices=("both", "in-process", "runner"), default="both",
                        help="how the deployments' runs execute: a thread of the serving process, a subprocess per run (Prefect's runner), or both in turn")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    modes = ("in-process", "runner") if args.serve == "both" else (args.serve,)
    figures: dict = {"latency_s": args.latency}
    for i, mode in enumerate(modes):
        measured = measure(mode, args, with_polling=i == 0)
        figures[f"event_driven_{mode}"] = measured["event_driven"]
        if "polling" in measured:
            figures["polling"] = measured["polling"]
    if len(modes) == 2:
        a, b = (figures[f"event_driven_{m}"]["overhead_s"]["mean"] for m in modes)
        figures["overhead_in_process_vs_runner"] = round(a / b, 3)
    print(json.dumps(figures, indent=2))
    save_result("events", figures)


if __name__ == "__main__":
    main()
