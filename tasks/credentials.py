"""Prefect block holding the API key (and the base URL) for a Twelve Labs-compatible server."""

from __future__ import annotations

from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, SecretStr

from reelscribe.core.client import TwelveLabsClient
from reelscribe.core.settings import DEFAULT_BASE_URL, Settings


class TwelveLabsCredentials(CredentialsBlock):
    """Credentials for the Twelve Labs API or a compatible server such as ``reelscribe serve``.

    Example:
        Load stored credentials:
        ```python
        from reelscribe.tasks.credentials import TwelveLabsCredentials
        credentials = TwelveLabsCredentials.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "Twelve Labs Credentials"
    _block_type_slug = "twelve-labs-credentials"
    _description = "API key and base URL of the Twelve Labs API or a compatible server."
    _documentation_url = "https://docs.twelvelabs.io/api-reference"  # type: ignore[assignment]

    api_key: SecretStr = Field(title="API key", description="The key sent as the x-api-key header.")
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        title="Base URL",
        description="API root including the version, e.g. https://api.twelvelabs.io/v1.3.",
    )

    def settings(self) -> Settings:
        return Settings(base_url=self.base_url, api_key=self.api_key)

    def get_client(self) -> TwelveLabsClient:
        return TwelveLabsClient(self.settings())
