"""A griffe extension for the API reference: the package's docstrings are written for doctest and
reST, which Markdown would mangle.

- reST roles (:class:`~clinikfhir.Clinik`, :func:`validate`, ...) become inline code (``~`` keeps the
  last dotted name, as in Sphinx);
- doctest examples (``>>>`` lines, their ``...`` continuations and output) become ``pycon`` code
  blocks, without the ``# doctest:`` directives (Markdown would read ``>`` as a quote).

Only the rendered text changes, never the source.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_DIRECTIVE = re.compile(r"\s*#\s*doctest:[^\n]*$")
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|data|exc|obj):`(~?)([^`<>]+?)`")


def _replace(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _doctests(text: str) -> str:
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith(">>>"):
            out.append(lines[i])
            i += 1
            continue
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():  # the example runs to the next blank line
            out.append(_DIRECTIVE.sub("", lines[i]))
            i += 1
        out.append(f"{indent}```")
    return "\n".join(out)


class SphinxRoles(griffe.Extension):
    """Rewrite reST roles and doctest examples in every docstring to Markdown."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _doctests(_ROLE.sub(_replace, obj.docstring.value))
