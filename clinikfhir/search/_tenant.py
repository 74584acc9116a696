"""The one local tenant guard on search parameters, used by the builder and by every client call.

The gateway owns tenancy: it adds the caller's tenant filter to every search (gateway.md §7.5), so
a query may not filter on the tenant tag itself. One verdict, whoever asks (the builder while
building, ``query_string()``, ``check()``, and the client before sending any search, raw or built).
"""

from __future__ import annotations

from collections.abc import Iterable

from clinikfhir._wire import TENANT_SYSTEM
from clinikfhir.errors import TenantGuardError

from ._values import split_unescaped, unescape

_TENANT_HOST_PATH = TENANT_SYSTEM.split("://", 1)[1].lower()  # clinikapi.com/tenant, any scheme or case


def tag_parameter(name: str) -> tuple[bool, str]:
    """Whether ``name`` finally filters on ``_tag`` (directly, chained ``subject._tag``, or through
    ``_has:Type:param:``), and its modifier (``"not"``, ``"missing"``, ``"text"`` ... or ``""``)."""
    if "_tag" not in name:
        return False, ""
    parts = name.rsplit(".", 1)[-1].split(":")
    while len(parts) > 3 and parts[0] == "_has":
        parts = parts[3:]
    if parts[0] != "_tag":
        return False, ""
    return True, ":".join(parts[1:])


# The guard reads values leniently (a backslash escapes any character, a trailing one is dropped),
# so it never fails on an illegal escape and sees the tenant system however it is spelled; the strict
# reading refuses such values, and so does the gateway.


def _names_tenant_system(value: str) -> bool:
    return _TENANT_HOST_PATH in unescape(value, strict=False).lower()


def guard_tenant_tag(name: str, value: str) -> None:
    """Raise :class:`TenantGuardError` if ``name=value`` could filter on, or widen, tenancy.

    Refused: any ``_tag`` (any modifier, chained, reverse-chained) whose value names the tenant
    system (``https://clinikapi.com/tenant``, also inside ``:text``/``:above``/``:below`` values);
    ``_tag:missing`` (every resource carries the tenant tag); ``_tag:not`` with a value that names
    no system (it could match a tenant code). Messages name the parameter, never its value.
    """
    is_tag, modifier = tag_parameter(name)
    if not is_tag:
        return
    if _names_tenant_system(value):
        reason = f"it names the gateway's tenant tag system {TENANT_SYSTEM}"
    elif modifier == "missing":
        reason = "_tag:missing tests the presence of tags, the tenant tag among them"
    elif modifier == "not" and any(
        len(parts := split_unescaped(alt, "|", strict=False)) < 2 or not parts[0]
        for alt in split_unescaped(value, ",", strict=False)
    ):
        reason = "_tag:not without a system could match the tenant tag's code"
    else:
        return
    raise TenantGuardError(
        f"search parameter {name} refused: {reason}; the gateway owns tenancy and adds your tenant filter "
        "to every search itself, so a query may not filter on the tenant tag"
    )


def guard_tenant_params(params: Iterable[tuple[str, str]]) -> None:
    """:func:`guard_tenant_tag` on every pair."""
    for name, value in params:
        guard_tenant_tag(name, value)
