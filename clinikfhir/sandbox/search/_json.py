"""Type guards for walking decoded JSON with precise static types."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypeIs


def is_obj(value: object) -> TypeIs[dict[str, Any]]:
    """True for a JSON object."""
    return isinstance(value, dict)


def is_list(value: object) -> TypeIs[list[Any]]:
    """True for a JSON array."""
    return isinstance(value, list)


def items(value: object) -> list[Any]:
    """The elements of a JSON array; [] for anything else."""
    return value if is_list(value) else []
