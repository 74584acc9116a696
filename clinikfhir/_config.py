"""Client configuration: the API key (kept secret), the base URL (https or loopback), timeout, retries."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import cast

import httpx

from clinikfhir._retry import RetryPolicy
from clinikfhir._wire import KEY_PATTERN
from clinikfhir.errors import ConfigurationError

DEFAULT_BASE_URL = "https://api.clinikapi.com"
DEFAULT_TIMEOUT = 30.0
#: the largest response body a client reads (after decompression) before giving up
DEFAULT_MAX_RESPONSE_BYTES = 64 << 20  # 64 MiB


class ApiKey:
    """An API key that never shows itself: ``repr``/``str`` give ``clk_test_****``.

    The value is only read by the request builder, through :meth:`reveal`.
    """

    __slots__ = ("__value",)

    def __init__(self, value: str) -> None:
        self.__value = value

    def reveal(self) -> str:
        """The key itself, for the ``x-api-key`` header only."""
        return self.__value

    @property
    def environment(self) -> str:
        """``"live"`` or ``"test"``, from the key prefix."""
        return self.__value.split("_")[1]

    def __repr__(self) -> str:
        return f"clk_{self.environment}_****"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApiKey) and other.__value == self.__value

    def __hash__(self) -> int:
        return hash(self.__value)

    def __reduce__(self) -> str | tuple[object, ...]:  # refuse to pickle the secret
        raise TypeError("ApiKey cannot be pickled")


def check_api_key(value: str | None) -> ApiKey:
    """Validate the key format ``clk_(live|test)_<alphanumerics>``; the error never echoes the key."""
    if value is None:
        value = os.environ.get("CLINIK_API_KEY")
    if not value:
        raise ConfigurationError(
            "no API key: pass api_key=... or set the CLINIK_API_KEY environment variable "
            "(keys look like clk_test_... or clk_live_...)"
        )
    checked = cast(object, value)
    if not isinstance(checked, str) or not KEY_PATTERN.fullmatch(checked):
        hint = ""
        if isinstance(checked, str) and checked != checked.strip():
            hint = " (it has surrounding whitespace)"
        raise ConfigurationError(
            "the API key is malformed" + hint + ": expected clk_live_ or clk_test_ followed by letters and digits"
        )
    return ApiKey(value)


def is_loopback(host: str) -> bool:
    """True for ``localhost``, ``*.localhost``, 127.0.0.0/8 and ``::1``."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(value: str | None) -> httpx.URL:
    """Normalise the base URL (default ``CLINIK_BASE_URL``, else ``https://api.clinikapi.com``).

    Plain ``http://`` is refused except to loopback hosts; credentials, query and fragment are refused;
    trailing slashes and a trailing ``/v1`` are removed (routes are appended as ``/v1/...``).
    """
    raw = value if value is not None else os.environ.get("CLINIK_BASE_URL") or DEFAULT_BASE_URL
    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, TypeError):
        raise ConfigurationError("base_url is not a valid URL") from None
    if url.scheme not in ("https", "http") or not url.host:
        raise ConfigurationError("base_url must be an absolute https:// URL")
    if url.scheme == "http" and not is_loopback(url.host):
        raise ConfigurationError(
            "base_url uses plain http:// to a non-loopback host; the API key and patient data would travel "
            "unencrypted. Use https:// (http:// is allowed only for localhost / 127.0.0.0/8 / ::1)"
        )
    if url.userinfo:
        raise ConfigurationError("base_url must not embed credentials")
    if url.query or url.fragment:
        raise ConfigurationError("base_url must not have a query or fragment")
    path = url.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return url.copy_with(path=path or "/")


@dataclass(frozen=True)
class Config:
    """Everything a client decides before sending; shared by :class:`Clinik` and :class:`AsyncClinik`."""

    api_key: ApiKey = field(repr=True)
    base_url: httpx.URL
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    validate_writes: bool = True
    strict: bool = False
    reject_warnings: bool = False
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    @property
    def origin(self) -> tuple[str, str, int | None]:
        """(scheme, host, port) of the base URL: the only origin the key is ever sent to."""
        return origin_of(self.base_url)

    @property
    def root(self) -> str:
        """The base URL without a trailing slash (``https://api.clinikapi.com``)."""
        return str(self.base_url).rstrip("/")

    @classmethod
    def build(
        cls,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        retries: int | RetryPolicy,
        *,
        validate_writes: bool = True,
        strict: bool = False,
        reject_warnings: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> Config:
        """Check and assemble a configuration (raises :class:`ConfigurationError`)."""
        given = cast(object, retries)
        if isinstance(given, bool) or not isinstance(given, (int, RetryPolicy)):
            raise ConfigurationError("retries must be an int or a RetryPolicy")
        if isinstance(retries, int):
            if retries < 0:
                raise ConfigurationError("retries must be >= 0")
            retries = RetryPolicy(max_retries=retries)
        seconds = cast(object, timeout)
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds > 0:
            raise ConfigurationError("timeout must be a positive number of seconds")
        cap = cast(object, max_response_bytes)
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
            raise ConfigurationError("max_response_bytes must be a positive number of bytes")
        return cls(
            api_key=check_api_key(api_key),
            base_url=check_base_url(base_url),
            timeout=float(timeout),
            retry=retries,
            validate_writes=validate_writes,
            strict=strict,
            reject_warnings=reject_warnings,
            max_response_bytes=max_response_bytes,
        )


def origin_of(url: httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, effective port) of a URL."""
    port = url.port or {"https": 443, "http": 80}.get(url.scheme)
    return (url.scheme, url.host.lower(), port)
