"""The exactly-once lookup's cost: list requests per upload when every video is called ``video.mp4``.

    python -m bench.bench_lookup [--ns 1,10,30,60,120] [--real 120]

Plain naming (each video sent as ``video.mp4`` and looked up by it, ``find_asset_for`` by the
plain name) against reelscribe's (``ensure_asset``: sent as ``video-<hash8>.mp4`` and looked up by
that name alone). Counted on a fake of the list endpoint with the local server's semantics
(case-insensitive substring ``filename`` filter, pages of ``PAGE_LIMIT``), and on the real local
server behind a counting proxy.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Any, Iterator

from bench.common import client_for, local_server, save_result, silent_videos
from reelscribe.core.ingest_paths.asset_upload import ensure_asset, find_asset_for
from reelscribe.core.client import PAGE_LIMIT
from reelscribe.core.ingest import META_SHA256, plain_name
from reelscribe.core.models import Asset
from reelscribe.core.retry import RetryPolicy
from reelscribe.core.sources import VideoSource


class CountingAssets:
    """The two calls the lookup and a direct upload make, on an in-memory account; counts list pages."""

    retry = RetryPolicy()

    def __init__(self) -> None:
        self.assets: list[Asset] = []
        self.pages = 0

    def iter_assets(self, *, filename: str | None = None) -> Iterator[Asset]:
        matches = [a for a in self.assets if not filename or filename.lower() in (a.filename or "").lower()]
        for start in range(0, max(len(matches), 1), PAGE_LIMIT):
            self.pages += 1
            yield from matches[start : start + PAGE_LIMIT]

    def create_asset(self, *, filename: str, user_metadata: dict, file: Any = None, url: str | None = None) -> Asset:
        asset = Asset(_id=uuid.uuid4().hex[:24], status="ready", method="direct", filename=filename, user_metadata=user_metadata)
        self.assets.append(asset)
        return asset


def upload_plain(client: Any, source: VideoSource, sha256: str) -> None:
    """The baseline: look up by the plain name, upload under it."""
    name = plain_name(source)
    if find_asset_for(client, sha256, name) is None:
        with open(source.uri, "rb") as stream:
            client.create_asset(file=(name, stream), filename=name, user_metadata={META_SHA256: sha256})


def upload_hashed(client: Any, source: VideoSource, sha256: str) -> None:
    ensure_asset(client, source, sha256, direct_limit=10**12)


def pages_per_upload(upload, client: Any, pages: callable, n: int, source: VideoSource, tag: str) -> list[int]:
    counts = []
    for i in range(n):
        before = pages()
        upload(client, source, hashlib.sha256(f"{tag} {i}".encode()).hexdigest())
        counts.append(pages() - before)
    return counts


def summary(counts: list[int]) -> dict[str, float]:
    """First, last and most list requests of one upload, and the mean over all of them."""
    return {"first": counts[0], "last": counts[-1], "max": max(counts), "mean": round(sum(counts) / len(counts), 2),
            "total": sum(counts)}


NAMINGS = (("plain", upload_plain), ("hashed", upload_hashed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ns", default="1,10,30,60,120", help="same-named videos per account")
    parser.add_argument("--real", type=int, default=120, help="videos on the real local server (0: skip)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-lookup-"))
    video = scratch / "cam" / "video.mp4"
    video.parent.mkdir()
    video.write_bytes(b"not read by the fake")
    source = VideoSource(str(video), "file")
    figures: dict[str, Any] = {"page_limit": PAGE_LIMIT, "fake": {}, "real": {}}

    print(f"list requests per upload, every video named video.mp4 (pages of {PAGE_LIMIT}; fake list endpoint)")
    print(f"{'videos':>7} {'naming':>7} {'1st':>5} {'last':>5} {'max':>5} {'mean':>7} {'total':>7}")
    for n in (int(x) for x in args.ns.split(",")):
        for naming, upload in NAMINGS:
            fake = CountingAssets()
            row = summary(pages_per_upload(upload, fake, lambda: fake.pages, n, source, naming))
            figures["fake"][f"{n}-{naming}"] = row
            print(f"{n:>7} {naming:>7} {row['first']:>5} {row['last']:>5} {row['max']:>5} {row['mean']:>7} {row['total']:>7}")

    if args.real:
        figures["real"] = real_server(args.real, scratch)
    save_result("lookup", figures)


def real_server(n: int, scratch: Path) -> dict[str, Any]:
    """The same on the real local server: list requests counted at a loopback proxy."""
    from tests.faultproxy import FORWARD, FaultProxy

    lists = [0]
    lock = threading.Lock()

    def count(method: str, path: str):
        if method == "GET" and path.startswith("/v1.3/assets?"):
            with lock:
                lists[0] += 1
        return FORWARD

    results = {}
    clip = silent_videos(1, prefix="lookup")[0].read_bytes()
    with local_server(latency=0.0) as server, FaultProxy(server.root_url, count) as proxy:
        # Hashed first: a hashed name never matches a lookup by the plain name, the other way round it would.
        for naming, upload in (("hashed", upload_hashed), ("plain", upload_plain)):
            folder = scratch / f"real-{naming}"
            folder.mkdir()
            video = folder / "video.mp4"
            video.write_bytes(clip)
            with client_for(proxy.base_url, server.api_key) as client:
                counts = pages_per_upload(upload, client, lambda: lists[0], n, VideoSource(str(video), "file"), f"real-{naming}")
            results[naming] = summary(counts)
            print(f"real local server, {n} same-named videos, {naming} naming: {results[naming]}")
    return results


if __name__ == "__main__":
    main()
