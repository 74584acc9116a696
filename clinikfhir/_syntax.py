"""FHIR R4 search syntax that the client and the sandbox must read alike: one definition each.

This is the bottom floor of the package (with :mod:`clinikfhir._wire` and ``_generated``): it
imports nothing else of clinikfhir, so the client's builder and guard, the sandbox's gateway and
its search engine can all use it without importing one another.

- **Escaping** (R4 §3.1.1.1.9 "Escaping search parameters"): in a value ``\\`` escapes ``,`` (OR),
  ``|`` (token/quantity separator), ``$`` (composite separator) and itself: :func:`escape`,
  :func:`split_unescaped`, :func:`unescape`.
- **Parameter names**: ``name[:modifier]``, chains ``a[:Type].b...``, reverse chains
  ``_has:Type:ref:name`` (nested), read by one parser, :func:`parse_name`.
- **Result parameters**: :data:`RESULT_PARAMETERS`.
- **The tenant rule** on ``_tag`` (gateway.md §7.5.3), :func:`tenant_tag_refusal`: the client's
  guard (which cannot know tenant codes) and the gateway and engine (which can) ask the same function.

Errors are :class:`SearchSyntaxError` (a ``ValueError``) whose message never echoes the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Final, Literal

from clinikfhir._wire import TENANT_SYSTEM

__all__ = [
    "ESCAPABLE",
    "RESULT_PARAMETERS",
    "Link",
    "ParamName",
    "SearchSyntaxError",
    "escape",
    "names_tenant_system",
    "parse_name",
    "split_unescaped",
    "tenant_tag_refusal",
    "unescape",
]


class SearchSyntaxError(ValueError):
    """A search parameter name or value that breaks the FHIR search syntax (the value is not echoed)."""


# -- escaping ------------------------------------------------------------------------------------

ESCAPABLE: Final = frozenset("\\,|$")
"""The characters a backslash may escape in a search value."""

_SPECIAL = re.compile(r"([\\,|$])")
_ILLEGAL_ESCAPE = (
    "invalid escape in a search value: a backslash may only precede \\ , | or $ "
    "(FHIR R4 search, 'Escaping search parameters')"
)
_TRAILING_BACKSLASH = (
    "invalid escape in a search value: it ends with a lone backslash (write \\\\ for a literal backslash)"
)


def escape(text: str) -> str:
    """Escape one value part: ``a,b`` -> ``a\\,b`` so a comma stays data, not an OR.

    >>> escape("a,b|c")
    'a\\\\,b\\\\|c'
    """
    if not isinstance(text, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise SearchSyntaxError(f"expected a string search value, got {type(text).__name__}")
    if "\\" not in text and "," not in text and "|" not in text and "$" not in text:
        return text
    return _SPECIAL.sub(r"\\\1", text)


def _check_escape(escaped: str | None) -> None:
    if escaped is None:
        raise SearchSyntaxError(_TRAILING_BACKSLASH)
    if escaped not in ESCAPABLE:
        raise SearchSyntaxError(_ILLEGAL_ESCAPE)


def split_unescaped(text: str, separator: str, *, strict: bool = True) -> list[str]:
    """Split on ``separator`` where it is not escaped (parts stay escaped).

    Raises :class:`SearchSyntaxError` on an illegal escape (a backslash before anything but
    ``\\ , | $``) or a trailing lone backslash; the message does not echo the value. With
    ``strict=False`` a backslash escapes any character and nothing raises (for guards that must see
    a value however it is spelled).

    >>> split_unescaped("a\\\\,b,c", ",")
    ['a\\\\,b', 'c']
    """
    if "\\" not in text and len(separator) == 1:  # nothing escaped: the same parts, without the walk
        return text.split(separator)
    parts: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, None)
            if strict:
                _check_escape(nxt)
            current.append(ch)
            current.append(nxt or "")
        elif ch == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def unescape(text: str, *, strict: bool = True) -> str:
    """Undo :func:`escape` (the spec's reading of ``\\,`` ``\\|`` ``\\$`` ``\\\\``).

    Raises :class:`SearchSyntaxError` on an illegal escape (``\\x`` for any other ``x``) or a
    trailing lone backslash; the message does not echo the value. With ``strict=False`` a backslash
    escapes any character and a trailing one is dropped.

    >>> unescape("a\\\\,b")
    'a,b'
    """
    if "\\" not in text:
        return text
    out: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, None)
            if strict:
                _check_escape(nxt)
            out.append(nxt or "")
        else:
            out.append(ch)
    return "".join(out)


# -- parameter names -----------------------------------------------------------------------------

RESULT_PARAMETERS: Final = frozenset(
    {"_sort", "_count", "_include", "_revinclude", "_summary", "_total", "_elements", "_contained", "_containedType"}
)
"""The result parameters of R4 §3.1.1.5 (they shape the result, they do not filter)."""


@dataclass(frozen=True, slots=True)
class Link:
    """One step from the searched type towards the parameter that finally filters.

    ``chain``: follow the reference parameter ``code`` of the current type (to ``type`` only, when
    given as ``code:Type``). ``has``: resources of ``type`` whose reference parameter ``code``
    points at the current one (``_has:type:code:...``)."""

    kind: Literal["chain", "has"]
    code: str
    type: str


@dataclass(frozen=True, slots=True)
class ParamName:
    """A search parameter name read by :func:`parse_name`: the links to follow, then the code and
    modifier of the parameter that filters (``subject:Patient.name:exact`` -> one chain link,
    ``name``, ``exact``)."""

    links: tuple[Link, ...]
    code: str
    modifier: str

    @property
    def rest(self) -> str:
        """The name without its first link (what the next type is searched with)."""
        return format_name(ParamName(self.links[1:], self.code, self.modifier))


def format_name(name: ParamName) -> str:
    """The text of a parsed name (``parse_name(format_name(n)) == n``)."""
    text = name.code + (f":{name.modifier}" if name.modifier else "")
    for link in reversed(name.links):
        if link.kind == "has":
            text = f"_has:{link.type}:{link.code}:{text}"
        else:
            text = f"{link.code}{':' + link.type if link.type else ''}.{text}"
    return text


_CODE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_TYPE = re.compile(r"[A-Z][A-Za-z]*")


def parse_name(name: str) -> ParamName:
    """Read a search parameter name: ``code[:modifier]``, chains ``ref[:Type].name`` and reverse
    chains ``_has:Type:ref:name``, nested in any order.

    Raises :class:`SearchSyntaxError` (naming the parameter) on a malformed name: an empty or
    ill-formed code, a ``_has`` without its three parts, a chain through a modifier other than a
    type.

    >>> parse_name("_has:Observation:patient:_tag:not")
    ParamName(links=(Link(kind='has', code='patient', type='Observation'),), code='_tag', modifier='not')
    >>> parse_name("subject:Patient.name:exact").links
    (Link(kind='chain', code='subject', type='Patient'),)
    """
    links: list[Link] = []
    rest = name
    while True:
        if rest.startswith("_has:"):
            parts = rest[5:].split(":", 2)
            if len(parts) != 3 or not _TYPE.fullmatch(parts[0]) or not _CODE.fullmatch(parts[1]) or not parts[2]:
                raise SearchSyntaxError(f"malformed _has parameter '{name[:100]}' (expected _has:Type:reference:name)")
            links.append(Link("has", parts[1], parts[0]))
            rest = parts[2]
            continue
        head, dot, tail = rest.partition(".")
        code, _, modifier = head.partition(":")
        if not _CODE.fullmatch(code):
            raise SearchSyntaxError(f"malformed search parameter name '{name[:100]}'")
        if dot:
            if modifier and not _TYPE.fullmatch(modifier):
                raise SearchSyntaxError(
                    f"malformed chained parameter '{name[:100]}' (a chain names a type, not a modifier)"
                )
            if not tail:
                raise SearchSyntaxError(f"malformed chained parameter '{name[:100]}'")
            links.append(Link("chain", code, modifier))
            rest = tail
            continue
        return ParamName(tuple(links), code, modifier)


# -- the tenant rule -----------------------------------------------------------------------------

_TENANT_HOST_PATH = TENANT_SYSTEM.split("://", 1)[1].lower()  # clinikapi.com/tenant, any scheme or case


def names_tenant_system(value: str) -> bool:
    """Whether a (possibly escaped) value mentions the tenant tag system, however it is spelled
    (any scheme or case, escaped characters read leniently)."""
    return _TENANT_HOST_PATH in unescape(value, strict=False).lower()


def tenant_tag_refusal(
    name: str,
    value: str,
    *,
    tenant: str | None = None,
    tenant_codes: Callable[[], Collection[str]] | None = None,
) -> str | None:
    """Why ``name=value`` may not be sent or served, as the tenant rule goes; None when it may.

    The gateway owns tenancy and ANDs the caller's tenant filter to every search. A parameter that
    finally filters on ``_tag`` (directly, chained or through ``_has``, any modifier) is refused when:

    - it is ``_tag:missing`` (every resource carries the tenant tag);
    - its value names the tenant system (however spelled), unless ``tenant`` is known and the
      alternative is exactly ``<system>|<tenant>`` with no modifier (a no-op);
    - an alternative without a system (``code`` or ``|code``) names a tenant code, when
      ``tenant_codes`` can tell; without it (the client), a system-less alternative under
      ``:not`` is refused, since it could be a tenant's code.

    Never raises on a malformed name or value (other checks report those); the reason never
    echoes the value.

    >>> tenant_tag_refusal("_has:Observation:patient:_tag:not", "org_b") is not None
    True
    >>> tenant_tag_refusal("_tag", "https://clinikapi.com/tenant|org_a", tenant="org_a") is None
    True
    """
    try:
        parsed = parse_name(name)
    except SearchSyntaxError:
        parsed = _final_lenient(name)
    if parsed.code != "_tag":
        return None
    modifier = parsed.modifier
    if modifier == "missing":
        return "_tag:missing tests the presence of tags, the tenant tag among them"
    codes: Collection[str] | None = None
    for alternative in split_unescaped(value, ",", strict=False):
        parts = split_unescaped(alternative, "|", strict=False)
        system = unescape(parts[0], strict=False) if len(parts) > 1 else None
        code = unescape(parts[-1], strict=False)
        if names_tenant_system(alternative):
            if tenant is not None and not modifier and len(parts) == 2 and system == TENANT_SYSTEM and code == tenant:
                continue
            return f"it names the gateway's tenant tag system {TENANT_SYSTEM}"
        if system or modifier not in ("", "not"):
            continue
        if tenant_codes is None:
            if modifier == "not":
                return "_tag:not without a system could match the tenant tag's code"
            continue
        if codes is None:
            codes = tenant_codes()
        if code in codes:
            return "a _tag without a system may not name a tenant"
    return None


def _final_lenient(name: str) -> ParamName:
    """The final code and modifier of a name the strict parser refuses (for the tenant rule, which
    must see ``_tag`` however a name is malformed)."""
    parts = name.rsplit(".", 1)[-1].split(":")
    while len(parts) > 3 and parts[0] == "_has":
        parts = parts[3:]
    return ParamName((), parts[0], ":".join(parts[1:]))
