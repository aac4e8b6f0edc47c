"""What the routes share: settings, the store and the indexer, hung on ``app.state`` at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from reelscribe.server.asset_workers import AssetWorkers
from reelscribe.server.config import ServerConfig
from reelscribe.server.errors import not_found
from reelscribe.server.ids import check_id
from reelscribe.server.multipart import Presigner
from reelscribe.server.store import IndexRow, Store
from reelscribe.server.workers import Indexer


@dataclass(frozen=True)
class ServerContext:
    config: ServerConfig
    store: Store
    indexer: Indexer
    assets: AssetWorkers
    presigner: Presigner

    def existing_index(self, index_id: str) -> IndexRow:
        """The index named in a request, after checking the id's shape; 404 if unknown."""
        row = self.store.indexes.get(check_id("index_id", index_id))
        if row is None:
            raise not_found("indexes", index_id)
        return row


def get_context(request: Request) -> ServerContext:
    """FastAPI dependency: the running server's context."""
    return request.app.state.context
