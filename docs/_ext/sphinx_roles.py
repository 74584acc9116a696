"""A griffe extension for the API reference: the package's docstrings use reST roles
(:class:`~clinikfhir.Clinik`, :func:`validate`, :attr:`...`), which Markdown would show literally.

Each role becomes inline code (``~`` keeps the last dotted name, as in Sphinx). Only the rendered
text changes, never the source.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|data|exc|obj):`(~?)([^`<>]+?)`")


def _replace(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


class SphinxRoles(griffe.Extension):
    """Rewrite reST roles in every docstring to Markdown inline code."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_replace, obj.docstring.value)
