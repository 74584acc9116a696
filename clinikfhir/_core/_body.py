"""Reading a response body within bounds: decompressed here, piece by piece, so a gzip bomb is
stopped at ``max_response_bytes`` without ever being inflated past it."""

from __future__ import annotations

import zlib
from collections.abc import Callable

from clinikfhir.errors import InvalidResponseError

#: the encodings asked for (``Accept-Encoding``) and undone here
ACCEPT_ENCODING = "gzip, deflate"
_PIECE = 1 << 20  # never inflate more than 1 MiB in one step


class BodyReader:
    """Feed it the raw (still encoded) chunks; it inflates them at most ``_PIECE`` at a time and
    calls ``too_large()`` (which raises) once the decoded size passes ``cap``, and ``tick()`` (which
    raises when time is up) after every chunk."""

    def __init__(self, encoding: str, cap: int, too_large: Callable[[], Exception], tick: Callable[[], object]) -> None:
        names = [e.strip().lower() for e in encoding.split(",") if e.strip().lower() not in ("", "identity")]
        self._z: zlib._Decompress | None = None  # pyright: ignore[reportPrivateUsage]
        self._raw_deflate = False
        if names in (["gzip"], ["x-gzip"]):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif names == ["deflate"]:
            self._z = zlib.decompressobj()
            self._raw_deflate = True  # may be zlib-wrapped or raw: decided on the first bytes
        elif names:
            raise InvalidResponseError("the response uses a content encoding that was not asked for")
        self._cap = cap
        self._too_large = too_large
        self._tick = tick
        self._parts: list[bytes] = []
        self._size = 0
        self._started = False

    def _add(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._size > self._cap:
            raise self._too_large()
        self._parts.append(piece)

    def feed(self, data: bytes) -> None:
        """One raw chunk from the socket."""
        if self._z is None:
            self._add(data)
        else:
            try:
                self._inflate(data)
            except zlib.error:
                raise InvalidResponseError("the response body could not be decoded (content encoding)") from None
        self._tick()

    def _inflate(self, data: bytes) -> None:
        assert self._z is not None
        if self._raw_deflate and not self._started and data:
            self._started = True
            try:
                probe = zlib.decompressobj()
                probe.decompress(data[:2])
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        buf = data
        while buf:
            piece = self._z.decompress(buf, min(_PIECE, self._cap - self._size + 1))
            self._add(piece)
            buf = self._z.unconsumed_tail

    def finish(self) -> bytes:
        """The whole decoded body."""
        if self._z is not None:
            try:
                self._add(self._z.flush())
            except zlib.error:
                raise InvalidResponseError("the response body could not be decoded (content encoding)") from None
        return b"".join(self._parts)
