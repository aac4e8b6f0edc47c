"""Upload memory: peak RSS of a process uploading a 1 GiB video, reelscribe against plain ``requests``.

    python -m bench.bench_upload_memory [--size-mib 1024]

The file is sparse (``truncate``: no disk used, reads return zeros). Each upload runs in a fresh
child process that posts it to a loopback sink (a tiny HTTP server in this process that reads the
body, discards it and answers like ``POST /tasks``), then reports its own peak RSS (``VmHWM``):

- ``reelscribe``: ``TwelveLabsClient.create_task`` (multipart streamed by requests-toolbelt);
- ``requests.post(files=...)``: the usual code, which builds the whole multipart body in memory;
- ``imports only``: the same child doing no upload, the floor both start from;
- ``multipart session``: the assets path's upload of a file above the direct limit
  (``reelscribe.core.ingest_paths.asset_upload.ensure_asset``), one 16 MiB chunk at a time, to the real local server
  (not the sink: the session, chunk URLs and ETags are the server's).

Goal: reelscribe's peak RSS < 150 MB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import OUT, ROOT, machine_line, save_result

GOAL_MB = 150.0
INDEX_ID = "6650a1b2c3d4e5f6a7b8c9d0"
CHUNK = 1 << 20


class Sink(BaseHTTPRequestHandler):
    """Reads and drops the request body; answers ``{"_id", "video_id"}`` like ``POST /tasks``."""

    protocol_version = "HTTP/1.1"
    received: list[int] = []

    def do_POST(self) -> None:
        total = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().split(b";")[0], 16):
                total += len(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining > 0:
                chunk = self.rfile.read(min(CHUNK, remaining))
                if not chunk:
                    break
                total += len(chunk)
                remaining -= len(chunk)
        Sink.received.append(total)
        body = json.dumps({"_id": "6650a1b2c3d4e5f6a7b8aaaa", "video_id": "6650a1b2c3d4e5f6a7b8bbbb"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def peak_rss_mb() -> float:
    """This process's high-water mark of resident memory (``VmHWM``), in MB (10^6 bytes)."""
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return kib * 1024 / 1e6


def child(kind: str, url: str, path: str) -> None:
    """Run in a fresh process: import what the uploader needs, upload (or not), print peak RSS."""
    import requests
    from pydantic import SecretStr

    from reelscribe.core.client import TwelveLabsClient
    from reelscribe.core.settings import Settings

    began = time.perf_counter()
    if kind == "reelscribe":
        with TwelveLabsClient(Settings(base_url=url, api_key=SecretStr("bench"))) as client, open(path, "rb") as handle:
            client.create_task(INDEX_ID, video_file=(Path(path).name, handle))
    elif kind == "multipart":
        from reelscribe.core.ingest_paths.asset_upload import ensure_asset
        from reelscribe.core.sources import VideoSource

        base_url, key = url.split("#", 1)
        with TwelveLabsClient(Settings(base_url=base_url, api_key=SecretStr(key))) as client:
            ensure_asset(client, VideoSource(path, "file"), "0" * 64, direct_limit=1)
    elif kind == "requests":
        with open(path, "rb") as handle:
            response = requests.post(
                f"{url}/tasks", data={"index_id": INDEX_ID}, files={"video_file": (Path(path).name, handle)},
                headers={"x-api-key": "bench"}, timeout=600,
            )
        response.raise_for_status()
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "seconds": time.perf_counter() - began}))


def run_child(kind: str, url: str, path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_upload_memory", "--child", kind, "--url", url, "--file", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _multipart_child(path: Path) -> dict:
    """The multipart child against a real local server started for it (the URL carries its key after ``#``)."""
    import tempfile

    from reelscribe.server.launcher import EmbeddedServer

    with tempfile.TemporaryDirectory(prefix="bench-multipart-") as folder:
        server = EmbeddedServer(folder)
        server.start()
        try:
            return run_child("multipart", f"{server.base_url}#{server.api_key}", path)
        finally:
            server.stop()


def sparse_file(mib: int) -> Path:
    path = OUT / f"sparse-{mib}MiB.mp4"
    OUT.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(mib * 1024 * 1024)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--child", choices=["reelscribe", "requests", "none", "multipart"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.url, args.file)

    print(f"upload memory: peak RSS of a child process uploading a sparse {args.size_mib} MiB file to a loopback sink")
    print(machine_line())
    path = sparse_file(args.size_mib)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1.3"
    rows = {}
    try:
        for kind, label in (("none", "imports only"), ("reelscribe", "reelscribe create_task"), ("requests", "requests.post(files=...)")):
            rows[kind] = {"label": label, **run_child(kind, url, path)}
            print(f"{label:<28}{rows[kind]['peak_rss_mb']:>9.0f} MB peak RSS{rows[kind]['seconds']:>8.1f} s", flush=True)
        rows["multipart"] = {"label": "multipart session", **_multipart_child(path)}
        print(f"{'multipart session (assets)':<28}{rows['multipart']['peak_rss_mb']:>9.0f} MB peak RSS{rows['multipart']['seconds']:>8.1f} s", flush=True)
    finally:
        httpd.shutdown()
        path.unlink(missing_ok=True)
    if len(Sink.received) != 2 or any(size < args.size_mib * 1024 * 1024 for size in Sink.received):
        print(f"warning: the sink received {Sink.received} bytes of body per upload")
    ours, base = rows["reelscribe"]["peak_rss_mb"], rows["requests"]["peak_rss_mb"]
    print(
        f"reelscribe {ours:.0f} MB vs requests {base:.0f} MB ({base / ours:.1f}x less); "
        f"goal < {GOAL_MB:g} MB: {'met' if ours < GOAL_MB else 'missed'}"
    )
    save_result("bench_upload_memory", {"size_mib": args.size_mib, "goal_mb": GOAL_MB, "children": rows, "ratio": round(base / ours, 2)})


if __name__ == "__main__":
    main()
