"""What :class:`~clinikfhir.Clinik` and :class:`~clinikfhir.AsyncClinik` share besides sending: the
private :class:`Core`, the cached CapabilityStatement, ``last_response`` and a key-free ``repr``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from clinikfhir._core._calls import Core

if TYPE_CHECKING:
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    from clinikfhir._config import Config
    from clinikfhir._meta import ResponseMeta


class ClientBase:
    """The state both shells hold; every internal is underscored so users see only the API."""

    #: check every search against the server's CapabilityStatement before sending it
    check_search_capabilities: bool = False

    def __init__(self, config: Config) -> None:
        self._core = Core(config)
        self._capabilities: CapabilityStatement | None = None

    @property
    def last_response(self) -> ResponseMeta | None:
        """Metadata (request id, rate limits, ETag/version, status, attempts) of the last call made by
        this client in the current thread or asyncio task, successful or not."""
        return self._core.last_response

    def __repr__(self) -> str:
        config = self._core.config
        return f"{type(self).__name__}(base_url={config.root!r}, api_key={config.api_key!r})"
