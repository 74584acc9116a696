"""The structure of R4 JSON, below the models: what a resource's JSON itself gets right or wrong.

The R4 element tables decoded on first use (``_schema``), the JSON types and lexical forms of the
primitives (``_primitives``) and one walk over the raw JSON (``_walk``) that reports unknown elements,
wrong shapes, cardinality and wrong JSON types. Strict reads (``clinikfhir.models.parse(strict=True)``)
refuse what it finds; the validator (``clinikfhir.validation``) extends the walk with bindings,
references and invariants, so the two share one definition of the structure.

>>> [(i.path, i.message) for i in structure_issues({"resourceType": "Patient", "active": "yes"})]
[('Patient.active', 'must be a JSON boolean (true or false)')]
"""

from __future__ import annotations

from ._primitives import check_primitive, check_xhtml, primitive_ok
from ._schema import ALLOWED_SHOWN, Element, Field, Node, allowed_codes, node, value_set_codes
from ._walk import StructureWalker, structure_issues, walk_resource

__all__ = [
    "ALLOWED_SHOWN",
    "Element",
    "Field",
    "Node",
    "StructureWalker",
    "allowed_codes",
    "check_primitive",
    "check_xhtml",
    "node",
    "primitive_ok",
    "structure_issues",
    "value_set_codes",
    "walk_resource",
]
