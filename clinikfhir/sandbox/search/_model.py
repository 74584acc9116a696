"""The engine's result and error types (the seam the sandbox calls through)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SearchResult:
    """One page of a search: matching ids in order, the accurate total, and what to include."""

    ids: list[str]
    """This page's matches, in result order."""
    total: int | None
    """Number of matches over all pages (None when ``_total=none``)."""
    snapshot: str | None = None
    """The id of the snapshot that serves the later pages of this search (None: page by offset)."""
    includes: list[tuple[str, str]] = field(default_factory=lambda: [])
    """(type, id) of ``_include``/``_revinclude`` hits, in the caller's tenant, without duplicates."""
    summary_count: bool = False
    """True for ``_summary=count``: the Bundle carries only the total."""
    elements: list[str] | None = None
    """The ``_elements`` the caller asked for, or None."""
    warnings: list[str] = field(default_factory=lambda: [])
    """Parameters ignored under ``Prefer: handling=lenient`` (names only, never values)."""


class SearchError(Exception):
    """A search the engine refuses: ``status`` 400 ``INVALID_PARAMETER`` or 403 ``TENANT_CONFLICT``.

    The message names the parameter and never echoes a value.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"SearchError({self.status}, {self.code!r}, {self.message!r})"
