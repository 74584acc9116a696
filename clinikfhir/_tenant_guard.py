"""The one local tenant guard on search parameters, used by the builder and by every client call.

The gateway owns tenancy: it adds the caller's tenant filter to every search (gateway.md §7.5), so
a query may not filter on the tenant tag itself. One verdict, whoever asks (the builder while
building, ``query_string()``, ``check()``, and the client before sending any search, raw or built),
and it is the gateway's own rule: :func:`clinikfhir._syntax.tenant_tag_refusal`, asked without
knowledge of tenant codes.
"""

from __future__ import annotations

from collections.abc import Iterable

from clinikfhir._syntax import tenant_tag_refusal
from clinikfhir.errors import TenantGuardError


def guard_tenant_tag(name: str, value: str) -> None:
    """Raise :class:`TenantGuardError` if ``name=value`` could filter on, or widen, tenancy.

    Refused: any ``_tag`` (any modifier, chained, reverse-chained) whose value names the tenant
    system (``https://clinikapi.com/tenant``, also inside ``:text``/``:above``/``:below`` values);
    ``_tag:missing`` (every resource carries the tenant tag); ``_tag:not`` with a value that names
    no system (it could match a tenant code). Messages name the parameter, never its value.
    """
    reason = tenant_tag_refusal(name, value)
    if reason is None:
        return
    raise TenantGuardError(
        f"search parameter {name} refused: {reason}; the gateway owns tenancy and adds your tenant filter "
        "to every search itself, so a query may not filter on the tenant tag"
    )


def guard_tenant_params(params: Iterable[tuple[str, str]]) -> None:
    """:func:`guard_tenant_tag` on every pair."""
    for name, value in params:
        guard_tenant_tag(name, value)
