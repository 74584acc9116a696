"""What :class:`~clinikfhir.Clinik` and :class:`~clinikfhir.AsyncClinik` share besides sending: the
private :class:`Core`, the cached CapabilityStatement, ``last_response`` and a key-free ``repr``."""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from clinikfhir._core._calls import CAPTURE, Core, ResponseCapture

if TYPE_CHECKING:
    from clinikfhir._config import Config
    from clinikfhir._meta import ResponseMeta
    from clinikfhir.models import CapabilityStatement


class ClientBase:
    """The state both shells hold; every internal is underscored so users see only the API."""

    #: check every search against the server's CapabilityStatement before sending it
    check_search_capabilities: bool = False

    def __init__(self, config: Config) -> None:
        self._core = Core(config)
        self._capabilities: CapabilityStatement | None = None

    @property
    def last_response(self) -> ResponseMeta | None:
        """Metadata (request id, rate limits, ETag/version, status, attempts) of the last response
        this client received, successful or not, from whichever thread or task made the call.

        With concurrent calls on one client, use :meth:`capture_response` (per thread/task), or the
        metadata each result carries (``page.meta``, ``exc.meta``).
        """
        return self._core.last

    @contextmanager
    def capture_response(self) -> Generator[ResponseCapture, None, None]:
        """Collect the response metadata of the calls made inside the block, in this thread or
        asyncio task only (safe under concurrency; nothing is kept after the block)::

            with clinik.capture_response() as seen:
                patient = clinik.read(Patient, "pt_1")
            seen.meta.etag
        """
        capture = ResponseCapture()
        token = CAPTURE.set(capture)
        try:
            yield capture
        finally:
            CAPTURE.reset(token)

    def __repr__(self) -> str:
        config = self._core.config
        return f"{type(self).__name__}(base_url={config.root!r}, api_key={config.api_key!r})"
