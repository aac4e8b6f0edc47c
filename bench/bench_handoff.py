"""Bytes the worker reads for one new s3:// video: streamed vs handed off as a presigned URL.

    python -m bench.bench_handoff [--seconds 60]

moto's S3 server behind a loopback proxy that sums the bytes of every object ``GET`` it answers,
by the worker (header-signed) or by the API (presigned, ``Signature=`` in the query), and the real
local server with ``--allow-url-network 127.0.0.1/32``. One upload step as the flows run it (hash,
then ``ensure_asset``, then the asset ready), once per mode, each on a new object.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench.common import client_for, local_server, save_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the generated 720p video")
    args = parser.parse_args()

    import s3fs

    from reelscribe.core.ingest_paths.asset_upload import ensure_asset
    from reelscribe.core.handoff import sent_as
    from reelscribe.core.sources import VideoSource, content_sha256
    from reelscribe.core.waiting import WaitOptions, wait_until_asset_ready
    from tests.faultproxy import FaultProxy
    from tests.media import make_video
    from tests.s3kit import MotoS3

    read: Counter[str] = Counter()
    lock = threading.Lock()

    class ByteCounting(FaultProxy):
        def _forward(self, handler):
            status, headers, payload = super()._forward(handler)
            if handler.command == "GET" and "/clip-" in handler.path:
                with lock:
                    read["api" if "Signature=" in handler.path else "worker"] += len(payload)
            return status, headers, payload

    scratch = Path(tempfile.mkdtemp(prefix="bench-handoff-"))
    video = make_video(scratch / "clip.mp4", args.seconds, audio="tone", width=1280, height=720, fps=25)
    size = video.stat().st_size
    moto = MotoS3().start()
    figures = {"object_bytes": size}
    try:
        with ByteCounting(moto.endpoint_url) as proxy, local_server(latency=0.0, extra=("--allow-url-network", "127.0.0.1/32")) as server:
            os.environ.update({**moto.env(), "AWS_ENDPOINT_URL": proxy.root_url})
            s3fs.S3FileSystem.clear_instance_cache()
            bucket = moto.new_bucket("bench-handoff")
            print(f"one new video of {size / 1e6:.1f} MB (s3://), through the local server")
            for n, hand_off in enumerate(("stream", "url")):
                # A different object (and content) per mode, so neither finds the other's asset.
                source = VideoSource(bucket.put(f"clip-{n}.mp4", video.read_bytes() + bytes([n])), "remote")
                read.clear()
                started = time.perf_counter()
                sha256 = content_sha256(source)
                with client_for(server.base_url, server.api_key) as client:
                    asset = ensure_asset(client, sent_as(source, hand_off, 3600), sha256, direct_limit=client.settings.direct_upload_limit)
                    wait_until_asset_ready(client, asset.id, WaitOptions(max_wait=300))
                seconds = time.perf_counter() - started
                figures[hand_off] = {"worker_bytes": read["worker"], "api_bytes": read["api"], "seconds": round(seconds, 2)}
                print(f"  {hand_off:>6}: worker read {read['worker'] / size:.2f}x the object, "
                      f"the API fetched {read['api'] / size:.2f}x, {seconds:.2f} s to a ready asset")
            ratio = figures["stream"]["worker_bytes"] / max(figures["url"]["worker_bytes"], 1)
            figures["worker_bytes_ratio_stream_to_url"] = round(ratio, 2)
            print(f"  worker bytes, stream / url: {ratio:.2f}x")
    finally:
        moto.stop()
    save_result("handoff", figures)


if __name__ == "__main__":
    main()
