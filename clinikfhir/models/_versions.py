"""Whether the installed pydantic and fhir.resources are the ones the trusted read path was made for.

The trusted path (``_trusted``) fills pydantic's instance slots from plans generated against one
fhir.resources release (``FHIR_RESOURCES_VERSION``), and has been tested (``.ci/pydantic-range``)
with a range of pydantic releases (:data:`PYDANTIC_TESTED`). On other versions it could build
silently wrong models, so at first use :func:`trusted_reads` compares the installed versions (a
pure function of the version strings, :func:`untested_versions`); on a mismatch every read goes
through pydantic validation (``model_validate``) instead, with one :class:`ModelVersionWarning`.

:func:`simulate_versions` re-runs the check as if other versions were installed: the documented
way to exercise the validation fallback (tests, or a user who prefers it).
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Generator
from contextlib import contextmanager

from clinikfhir._generated.model_index import FHIR_RESOURCES_VERSION

PYDANTIC_TESTED = ((2, 7, 4), (2, 15, 0))
"""pydantic releases the trusted path is tested with: from the first (inclusive) to the second
(exclusive), as pinned in pyproject.toml and run by ``.ci/pydantic-range``."""

_RELEASE = re.compile(r"([0-9]+)\.([0-9]+)(?:\.([0-9]+))?(\.post[0-9]+)?")


def _release(version: str) -> tuple[int, int, int] | None:
    """``2.14.4`` -> (2, 14, 4); None for anything but a final release (``2.15.0b1``, ``2.14.dev0``)."""
    m = _RELEASE.fullmatch(version.strip())
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def _spell(version: tuple[int, int, int]) -> str:
    return ".".join(map(str, version))


def untested_versions(pydantic_version: str, fhir_resources_version: str) -> str | None:
    """Why the trusted read path must not be used with these versions, or None when it may.

    >>> untested_versions("2.14.4", "8.3.0") is None
    True
    >>> untested_versions("2.6.4", "8.3.0")
    'pydantic 2.6.4 is outside the tested range >=2.7.4,<2.15.0'
    """
    low, high = PYDANTIC_TESTED
    reasons: list[str] = []
    release = _release(pydantic_version)
    if release is None or not low <= release < high:
        reasons.append(f"pydantic {pydantic_version} is outside the tested range >={_spell(low)},<{_spell(high)}")
    if fhir_resources_version != FHIR_RESOURCES_VERSION:
        made_for = f"{FHIR_RESOURCES_VERSION}, the version the plans were made for"
        reasons.append(f"fhir.resources {fhir_resources_version} is not {made_for}")
    return "; ".join(reasons) or None


class ModelVersionWarning(UserWarning):
    """The installed pydantic or fhir.resources is not one the trusted read path was made for:
    reads are validated by pydantic instead (correct, slower). ``reason`` names the versions."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}: clinikfhir reads models through pydantic validation instead of its fast path")
        self.reason = reason


def installed_versions() -> tuple[str, str]:
    """(pydantic, fhir.resources) versions as the installed packages report them."""
    import fhir.resources
    import pydantic

    return str(pydantic.VERSION), str(fhir.resources.__version__)


_lock = threading.Lock()
_verdict: bool | None = None  # None: not checked yet


def trusted_reads() -> bool:
    """Whether reads may take the trusted path; checked once, at first use (then cached)."""
    global _verdict
    verdict = _verdict
    if verdict is None:
        with _lock:
            if _verdict is None:
                _verdict = _check(*installed_versions())
            verdict = _verdict
    return verdict


def _check(pydantic_version: str, fhir_resources_version: str) -> bool:
    reason = untested_versions(pydantic_version, fhir_resources_version)
    if reason is None and not _slots_present():
        reason = f"pydantic {pydantic_version} does not keep model state in the slots the fast path fills"
    if reason is not None:
        warnings.warn(ModelVersionWarning(reason), stacklevel=4)
        return False
    return True


def _slots_present() -> bool:
    """pydantic's instance slots the trusted path fills are where it expects them."""
    from pydantic import BaseModel

    return all(hasattr(BaseModel.__dict__.get(name), "__set__") for name in SLOTS)


SLOTS = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
"""The instance slots of ``pydantic.BaseModel`` the trusted path fills."""


@contextmanager
def simulate_versions(
    pydantic_version: str | None = None, fhir_resources_version: str | None = None
) -> Generator[bool, None, None]:
    """Within the block, reads behave as if these versions were installed (the others as installed).

    Yields whether the trusted path is used; a mismatch warns once (:class:`ModelVersionWarning`),
    as it would at first use. The previous verdict is restored on exit. Not thread-safe against
    reads running concurrently in other threads: meant for tests and diagnostics.

    >>> with simulate_versions(pydantic_version="2.6.0") as trusted:  # doctest: +SKIP
    ...     patient = parse(data)  # read through Patient.model_validate
    """
    global _verdict
    real_pydantic, real_fhir = installed_versions()
    with _lock:
        before = _verdict
        _verdict = _check(pydantic_version or real_pydantic, fhir_resources_version or real_fhir)
        verdict = _verdict
    try:
        yield verdict
    finally:
        with _lock:
            _verdict = before
