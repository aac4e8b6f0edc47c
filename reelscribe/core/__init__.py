"""The Prefect-free core: settings, the API client, sources, the wait, flatten and the lake writer."""
