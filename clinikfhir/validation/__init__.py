"""Local validation of FHIR R4 resources: every problem at once, with element paths, no values.

``validate(resource_or_dict, *, level="warning", ignore=())`` returns a list of :class:`Issue`
(severity, OperationOutcome issue code, FHIRPath-style path such as ``Patient.name[0].given[1]``, a
message that never contains the offending value, and a rule ``key``). The client runs it before every
write and the sandbox uses the same function for its 422 responses and ``$validate``, so the local
and the server verdict cannot disagree. It is pure and fast: a fifth to a third of the time of the R4B
model's own ``model_validate`` (see ``benchmarks/bench_validation.py``). A resource with nothing to
report, the usual case, is answered by a pass over per-type plans compiled once from the element
tables, which builds no element path; anything else gets the full walk, which says what is wrong and
where.

What is checked, on the raw JSON against the R4 (4.0.1) StructureDefinitions (so R4-only resource
types are validated like the others, and R4B-only elements are rejected):

===================  =====================================================================  ==================
rule key             what                                                                   severity
===================  =====================================================================  ==================
``structure``        not an object/array where one is expected, empty arrays, nulls, an     error / fatal
                     unknown ``resourceType``
``unknown-element``  a JSON key that is not an element of the type (e.g. ``fhir_comments``)  error
``cardinality``      a required element missing (``min``), too many values, two types of a  error
                     ``[x]`` choice
``type``             the wrong JSON type: no coercion (``"yes"`` is not a boolean, ``"1"``   error
                     not an integer)
``format``           R4 lexical form of the primitive (date, dateTime, instant, time, code,  error
                     uri, oid, uuid, base64Binary...), real calendar days (no 30 February),
                     integer ranges, empty strings
``id``               an id that is not 1-64 of ``A-Za-z0-9-.``                              error
``binding``          a code, Coding or CodeableConcept outside its *required* value set      error
                     (for a CodeableConcept a coding with the right system and code must
                     be present)
``reference``        a relative literal reference that is not ``Type/id[/_history/v]``      error
``reference-target`` a reference to a type the element does not allow (``Type/id``,          error
                     absolute RESTful URLs, contained ``#id``, ``urn:uuid`` resolved
                     through the enclosing Bundle's ``fullUrl``\\ s; ``Reference.type``)
*invariant key*      the FHIR invariants of the resource, its backbone elements and every   from the definition
                     datatype instance (``obs-6``, ``pat-1``, ``per-1``, ``ele-1``,          (warnings such as
                     ``ext-1``, ``dom-2`` .. ``dom-6``, ``ref-1``, ``txt-1``...), reported   ``dom-6`` do not
                     at the path of the instance                                            block)
===================  =====================================================================  ==================

Invariants are compiled from their FHIRPath to Python by codegen (``clinikfhir._generated.invariants``,
checked against fhirpathpy in the tests); ``ele-1``, ``ext-1``, ``dom-3``, ``ref-1``, ``ctm-1``
(``resolve()``) and ``txt-1``/``txt-2`` (``htmlChecks()``: a ``<div>`` with the xhtml namespace, no
active content) are implemented natively.

An invariant whose evaluation raises (a bug in its compiled form or in the evaluator) is never
silently dropped: it is reported as a ``warning`` issue with its rule key ("invariant obs-6 could not
be evaluated"), and, when the resource has no other error, as an
:class:`InvariantNotEvaluatedWarning` (a Python warning), which clinikfhir's test suite makes an error.

Severity policy: ``level="error"`` returns only blocking issues (error, fatal); ``"warning"`` (the
default) adds warnings; ``"information"`` everything. ``ignore`` drops rule keys (e.g. ``{"dom-6"}``).
Whatever the level, only error and fatal block a write: test with :func:`has_errors`.

Known limits: three required value sets cannot be enumerated from the package and are not checked
(``clinikfhir._generated.validation_schema.SKIPPED_VALUE_SETS``: BCP-13 media types, UCUM units,
LOINC LL379-9); references are checked for their target type, not resolved; resource profiles
(``meta.profile``, e.g. vital signs) are not applied.

Type profiles are applied: where an element's type carries the profile of a constrained datatype
(``Observation.referenceRange.low``, ``Range.low``/``high``, doses: ``Quantity`` profiled as
``SimpleQuantity``) the instance is walked against that profile, so ``sqty-1`` and its
``comparator`` max 0 are reported at the instance path; ``MoneyQuantity`` (``mqty-1``) has its node
too, though no R4 core element uses it. ``Age``, ``Duration``, ``Distance`` and ``Count`` are types
of their own and bring ``age-1``, ``drt-1``, ``dis-1``, ``cnt-3`` (with ``qty-3``) wherever used.
"""

from __future__ import annotations

from clinikfhir._issues import Issue, Severity, has_errors, to_operation_outcome

from ._validate import InvariantNotEvaluatedWarning, Level, validate

__all__ = [
    "InvariantNotEvaluatedWarning",
    "Issue",
    "Level",
    "Severity",
    "has_errors",
    "to_operation_outcome",
    "validate",
]
