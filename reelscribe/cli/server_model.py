"""``reelscribe run --server-model/--server-language/--server-speakers``: the embedded server's model, checked before anything starts."""

from __future__ import annotations

from pydantic import ValidationError

from reelscribe.core.errors import ConfigError


def check_server_model(model: str | None, language: str | None) -> None:
    """Resolve the model as the server will (``base`` is joined into its cache once); raises ConfigError."""
    if model is None and language is None:
        return
    from reelscribe.server.cli import check_model
    from reelscribe.server.config import ServerConfig
    from reelscribe.server.models import BUNDLED_MODEL, ModelUnavailable

    values = {key: value for key, value in (("model", model), ("language", language)) if value is not None}
    try:
        config = ServerConfig(data_dir=".", api_keys=("unused",), **values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"--server-language {language}: {first.get('ctx', {}).get('error', first['msg'])}") from None
    try:
        check_model(config)
    except ModelUnavailable as exc:
        raise ConfigError(f"--server-model {model or BUNDLED_MODEL}: {exc}") from None


def check_server_speakers() -> None:
    """The speakers extra is installed (nothing imported); raises ConfigError naming its install line."""
    from reelscribe.server.speakers import SpeakersUnavailable, check_available

    try:
        check_available()
    except SpeakersUnavailable as exc:
        raise ConfigError(f"--server-speakers: {exc}") from None
