"""Batch and transaction Bundles at POST /v1/fhir.

Every entry goes through the same route as a lone request, with the same key scope and tenant rules.
A batch answers each entry on its own; a transaction runs every entry inside one SQLite write
transaction (DELETE, POST, PUT/PATCH, GET order) and writes nothing if any entry fails. `urn:uuid`
full URLs of created entries are resolved in every reference of the transaction.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

import orjson

from ._fhir import (
    NO_BODY,
    Caller,
    EntryHeaders,
    Principal,
    Result,
    Return,
    interaction_kind,
    new_id,
    outcome_of,
    prepare_new,
    return_preference,
    structural,
)
from ._http import REASONS, ErrorIssue, GatewayError, arr, loads_exact, obj, parse_body
from ._pages import bundle_bytes, entry_text
from ._store import Store


class Router(Protocol):
    """What a Bundle needs of the FHIR server: its store, its router and conditional matching."""

    @property
    def store(self) -> Store: ...

    def route(
        self,
        who: Principal,
        method: str,
        segs: list[str],
        pairs: list[tuple[str, str]],
        body: Any,
        hdrs: EntryHeaders,
        conn: sqlite3.Connection | None = None,
        assigned_id: str | None = None,
        matched: Sequence[str] | None = None,
        prepared: dict[str, Any] | Exception | None = None,
    ) -> Result: ...

    def match(
        self, conn: sqlite3.Connection, caller: Caller, rtype: str, criteria: Sequence[tuple[str, str]], what: str
    ) -> list[str]: ...

    def surely_unmatched(
        self, conn: sqlite3.Connection, caller: Caller, asks: Sequence[tuple[str, Sequence[tuple[str, str]]]]
    ) -> list[bool | None]: ...


_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3}


@dataclass(slots=True)
class _Entry:
    index: int
    method: str
    segs: list[str]
    pairs: list[tuple[str, str]]
    body: Any
    full_url: str | None
    if_match: str | None
    if_none_exist: str | None
    assigned_id: str | None = None
    matched: list[str] | None = None
    """The ids its ``ifNoneExist`` matched before the transaction wrote anything (see :class:`_Written`)."""
    codes: list[str] | None = None
    """The codes of its ``ifNoneExist`` when they are plain tokens (:func:`_token_codes`)."""
    criteria: list[tuple[str, str]] | None = None
    """Its ``ifNoneExist`` as search parameters, when it is a create with one."""
    prepared: dict[str, Any] | Exception | None = None
    """For a create: :func:`prepare_new` of its body (or the error it raised), made before the
    transaction takes the writer; None when it is to be made in the entry's turn."""


def _parse_entry(index: int, raw: Any) -> _Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise structural("A Bundle entry must be an object", where)
    entry: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
    request = entry.get("request")
    if not isinstance(request, dict):
        raise structural("The entry has no request", f"{where}.request")
    req: dict[str, Any] = request  # pyright: ignore[reportUnknownVariableType]
    method = req.get("method")
    url = req.get("url")
    if method not in _ORDER or not isinstance(method, str):
        raise structural("request.method must be GET, POST, PUT, PATCH or DELETE", f"{where}.request.method")
    if not isinstance(url, str) or not url:
        raise structural("request.url is missing", f"{where}.request.url")
    if "/v1/fhir/" in url:
        url = url.split("/v1/fhir/", 1)[1]
    path, _, query = url.lstrip("/").partition("?")
    segs = [unquote(s) for s in path.split("/") if s != ""]
    for seg in segs:
        if seg.strip(".") == "":
            raise structural("request.url may not contain dot-only segments", f"{where}.request.url")
    body: Any = entry.get("resource", NO_BODY)
    binary = obj(body)
    if method == "PATCH" and binary is not None and binary.get("resourceType") == "Binary":
        try:
            decoded = base64.b64decode(str(binary.get("data", "")), validate=True)
            loads_exact(decoded)
        except (ValueError, binascii.Error):
            raise structural("The Binary of a PATCH entry must hold a base64 JSON Patch", f"{where}.resource") from None
        body = parse_body(decoded)
    if_match = req.get("ifMatch")
    if_none = req.get("ifNoneExist")
    full_url = entry.get("fullUrl")
    return _Entry(
        index,
        method,
        segs,
        parse_qsl(query, keep_blank_values=True) if query else [],
        body,
        full_url if isinstance(full_url, str) else None,
        if_match if isinstance(if_match, str) else None,
        if_none if isinstance(if_none, str) else None,
    )


def _rewrite(value: Any, mapping: dict[str, str]) -> None:
    """Replace, in place, every ``reference`` naming a mapped urn:uuid with ``Type/id`` (the entry
    bodies were parsed from this request: nobody else holds them)."""
    stack: list[Any] = [value]
    push, pop = stack.append, stack.pop
    while stack:
        item = pop()
        if isinstance(item, dict):
            node: dict[str, Any] = item  # pyright: ignore[reportUnknownVariableType]
            ref = node.get("reference")
            if isinstance(ref, str) and ref in mapping:
                node["reference"] = mapping[ref]
            for child in node.values():
                if isinstance(child, dict | list):
                    push(child)
        elif isinstance(item, list):
            for child in item:  # pyright: ignore[reportUnknownVariableType]
                if isinstance(child, dict | list):
                    push(child)


def _response_entry(base: str, result: Result, wanted: Return) -> str:
    """One entry of a batch- or transaction-response: ``response`` (status, location, etag,
    lastModified), the ``resource`` unless ``wanted`` is ``minimal`` or ``OperationOutcome`` (then
    ``response.outcome``) for an entry that wrote a resource, and its ``fullUrl``."""
    response: dict[str, Any] = {"status": f"{result.status} {REASONS.get(result.status, '')}".strip()}
    stored = result.stored
    full_url: str | None = None
    resource: str | None = None
    if stored is not None:
        response["etag"] = stored.etag
        response["lastModified"] = stored.last_updated
        if result.status == 201:
            response["location"] = f"{stored.rtype}/{stored.rid}/_history/{stored.version}"
        if stored.body is not None:
            full_url = f"{base}/{stored.rtype}/{stored.rid}"
        if wanted == "OperationOutcome":
            response["outcome"] = outcome_of(result.status)
    if result.body and (stored is None or wanted == "representation"):
        resource = result.body.decode("utf-8")
    return entry_text(full_url, resource, {"response": response})


def _shape(entry: _Entry, wanted: Return) -> Return:
    """The return preference applies to the entries that write (a read answers with what it read)."""
    return wanted if entry.method in ("POST", "PUT", "PATCH") else "representation"


def _error_entry(err: GatewayError) -> str:
    issues = err.issues or [ErrorIssue("error", "processing", err.message).as_json()]
    outcome = {"resourceType": "OperationOutcome", "issue": issues}
    status = f"{err.status} {REASONS.get(err.status, '')}".strip()
    return entry_text(None, None, {"response": {"status": status, "outcome": outcome}})


def process_bundle(server: Router, who: Principal, body: Any, prefer: str | None = None) -> Result:
    """Run a batch or transaction Bundle; the answer is a batch-response or transaction-response.

    Every entry needs the key scope its interaction needs (``who.authorize``). ``prefer`` is the
    request's ``Prefer`` header: under ``return=minimal`` the entries that create, update or patch
    carry only their ``response`` (FHIR R4 http.html#return); reads and searches keep their resource."""
    caller, base = who.caller, who.base
    bundle = obj(body)
    if bundle is None or bundle.get("resourceType") != "Bundle":
        raise structural("POST /v1/fhir takes a Bundle of type batch or transaction", "Bundle")
    btype = bundle.get("type")
    if btype not in ("batch", "transaction"):
        raise structural("Bundle.type must be batch or transaction", "Bundle.type")
    wanted = return_preference(prefer)
    raw_entries = arr(bundle.get("entry") or [])
    if raw_entries is None:
        raise structural("Bundle.entry must be an array", "Bundle.entry")
    if btype == "batch":
        out: list[str] = []
        for i, raw in enumerate(raw_entries):  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            try:
                entry = _parse_entry(i, raw)
                who.authorize(interaction_kind(entry.method, entry.segs))
                hdrs = EntryHeaders(entry.if_match, entry.if_none_exist)
                result = server.route(who, entry.method, entry.segs, entry.pairs, entry.body, hdrs)
                out.append(_response_entry(base, result, _shape(entry, wanted)))
            except GatewayError as err:
                out.append(_error_entry(err))
        return _answer("batch-response", out, wanted)

    entries = [_parse_entry(i, raw) for i, raw in enumerate(raw_entries)]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    for entry in entries:
        who.authorize(interaction_kind(entry.method, entry.segs))
    mapping: dict[str, str] = {}
    for entry in entries:
        if entry.method == "POST" and len(entry.segs) == 1:
            entry.assigned_id = new_id()
            if entry.full_url is not None and entry.full_url.startswith("urn:uuid:"):
                if entry.full_url in mapping:
                    raise structural("Two entries share a fullUrl", f"Bundle.entry[{entry.index}].fullUrl")
                mapping[entry.full_url] = f"{entry.segs[0]}/{entry.assigned_id}"
    results: dict[int, Result] = {}
    # without DELETEs, only the transaction's own creates run between the first look-up of a conditional
    # create and its turn; see _Written for when that first answer still holds
    reuse = not any(entry.method == "DELETE" for entry in entries)
    for entry in entries:
        if entry.assigned_id is not None and entry.if_none_exist is not None:
            entry.criteria = _query_pairs(entry.if_none_exist.lstrip("?"))
            entry.codes = _token_codes(entry.criteria) if reuse else None
    # Each create is shaped, tagged and validated before the transaction takes the writer (so another
    # request's SQLite work runs meanwhile), with its urn:uuid references pointing at the ids just
    # minted. A conditional create matching an existing resource points its urn:uuid there instead:
    # the references are then rewritten again and every create prepared again in its turn.
    if mapping:
        for entry in entries:
            if entry.body is not NO_BODY:
                _rewrite(entry.body, mapping)
    for entry in entries:
        if entry.assigned_id is not None:
            try:
                entry.prepared = prepare_new(caller, entry.segs[0], entry.body)
            except Exception as exc:  # raised in the entry's turn, after the checks that come first
                entry.prepared = exc
    minted = dict(mapping)
    with server.store.write() as conn:
        # conditional creates that match an existing resource point their urn:uuid at it
        unmatched = _matching_nothing(server, conn, caller, entries) if reuse else set[int]()
        for entry in entries:
            if entry.criteria is None:
                continue
            mapped = entry.full_url is not None and entry.full_url in mapping
            if not (mapped or entry.codes is not None):
                continue
            if entry.index in unmatched:
                entry.matched = []
                continue
            try:
                ids = server.match(conn, caller, entry.segs[0], entry.criteria, "ifNoneExist")
            except GatewayError as err:
                if mapped:
                    raise _entry_failure(entry.index, err) from None
                continue  # asked again in its turn, where the error is raised in the usual order
            if mapped and len(ids) == 1:
                mapping[entry.full_url or ""] = f"{entry.segs[0]}/{ids[0]}"
            if reuse:
                entry.matched = ids
        moved = {minted[url]: ref for url, ref in mapping.items() if ref != minted[url]}
        if moved:
            for entry in entries:
                entry.prepared = None
                if entry.body is not NO_BODY:
                    _rewrite(entry.body, moved)
        # per type, the conditional creates still to run with a first answer: what is created before
        # them is looked at (and only then)
        written = _Written(entries)
        for entry in sorted(entries, key=lambda e: (_ORDER[e.method], e.index)):
            hdrs = EntryHeaders(entry.if_match, entry.if_none_exist)
            matched = entry.matched
            if matched is not None and not written.first_answer_holds(entry.segs[0], entry.codes):
                matched = None  # one of this transaction's creates may match: ask the engine again
            try:
                result = server.route(
                    who,
                    entry.method,
                    entry.segs,
                    entry.pairs,
                    entry.body,
                    hdrs,
                    conn=conn,
                    assigned_id=entry.assigned_id,
                    matched=matched,
                    prepared=entry.prepared,
                )
            except GatewayError as err:
                raise _entry_failure(entry.index, err) from None
            results[entry.index] = result
            stored = result.stored
            if result.status == 201 and stored is not None:
                written.add(stored.rtype, stored.body)
    out = [_response_entry(base, results[entry.index], _shape(entry, wanted)) for entry in entries]
    return _answer("transaction-response", out, wanted)


def _query_pairs(query: str) -> list[tuple[str, str]]:
    """``parse_qsl(query, keep_blank_values=True)``; one pair without ``&``, ``%`` or ``+`` (what
    ``clinikfhir load`` sends as ``ifNoneExist``, once per entry) is split without its machinery."""
    if not query or "&" in query or "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True)
    name, _, value = query.partition("=")
    return [(name, value)]


_PLAIN_TOKENS = frozenset({"_id", "_tag", "_security", "identifier"})
"""Search parameters whose match needs a resource to hold the searched code as a JSON value: the
resource id, and the code of a ``meta.tag`` / ``meta.security`` coding or the value of an identifier."""


def _token_codes(criteria: list[tuple[str, str]]) -> list[str] | None:
    """Per criterion of a conditional create, the code a matching resource must hold as a JSON value;
    None unless every criterion is a plain ``_id``, ``_tag``, ``_security`` or ``identifier`` with one
    value (no modifier, chain, list of values or escape) and a code."""
    codes: list[str] = []
    for name, value in criteria:
        if name not in _PLAIN_TOKENS or "," in value or "\\" in value or value != value.strip():
            return None
        pieces = value.split("|")
        if len(pieces) > 2 or (name == "_id" and len(pieces) > 1) or not pieces[-1]:
            return None
        codes.append(pieces[-1])
    return codes or None


_TOGETHER = 100
"""The most conditional creates whose criteria :func:`_matching_nothing` asks in one search."""


def _matching_nothing(server: Router, conn: sqlite3.Connection, caller: Caller, entries: list[_Entry]) -> set[int]:
    """The indexes of conditional creates (with plain token criteria, see :func:`_token_codes`)
    whose criteria match nothing yet.

    First, one index statement for all of them, of every type (:meth:`Router.surely_unmatched`): an entry some
    of whose codes no resource holds matches nothing. Those it does not look at (e.g. ``_id``, or criteria the
    tenant rule refuses) are asked together per type and parameter: when several entries ask ``name=v1``,
    ``name=v2``, ... (one criterion each), ``name=v1,v2,...`` (FHIR's OR: what matches any of them) is asked
    instead, and when that matches nothing, none of them matches anything. Whatever is left (something matches,
    or the search is refused) is looked up on its own by the caller."""
    asked = [entry for entry in entries if entry.criteria is not None and entry.codes is not None]
    found: set[int] = set()
    unsure: list[_Entry] = []
    answers = server.surely_unmatched(conn, caller, [(entry.segs[0], entry.criteria or []) for entry in asked])
    for entry, none in zip(asked, answers, strict=True):
        if none:
            found.add(entry.index)
        elif none is None:
            unsure.append(entry)
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for entry in unsure:
        criteria = entry.criteria or []
        if len(criteria) == 1:
            name, value = criteria[0]
            groups.setdefault((entry.segs[0], name), []).append((entry.index, value))
    for (rtype, name), items in groups.items():
        for start in range(0, len(items), _TOGETHER):
            chunk = items[start : start + _TOGETHER]
            if len(chunk) < 2:
                continue
            try:
                ids = server.match(conn, caller, rtype, [(name, ",".join(v for _, v in chunk))], "ifNoneExist")
            except GatewayError:
                continue
            if not ids:
                found.update(i for i, _ in chunk)
    return found


_FEW = 32
"""Up to this many codes asked of a type, a created resource's text is searched for each (one
substring search apiece); beyond, it is cut at its quotes once and the pieces looked up (as costly
as about 40 substring searches, whatever the number of codes)."""


def _distinct(codes: list[str] | None) -> Sequence[str]:
    if not codes:
        return ()
    return codes if len(codes) == 1 else list(dict.fromkeys(codes))


class _Asked:
    """The codes that the waiting conditional creates of one type ask (see :class:`_Written`)."""

    __slots__ = ("counts", "held", "plain", "quoted", "spelled", "waiting")

    def __init__(self) -> None:
        self.waiting = 0
        """How many conditional creates of the type with a first answer have not had their turn."""
        self.counts: dict[str, int] = {}
        """Code -> how many of those ask for it."""
        self.spelled: dict[str, str] = {}
        """Code -> its JSON string (``orjson.dumps``), for each code asked."""
        self.plain: dict[str, str] = {}
        """The text between the quotes of a code's JSON string -> the code, for each code without a
        quote."""
        self.quoted: dict[str, str] = {}
        """Code -> its JSON string, for each code with a quote (``\\"`` in its JSON string)."""
        self.held: set[str] = set()
        """The codes asked when a resource holding them (or whose text may) was created."""

    def ask(self, codes: list[str] | None) -> None:
        self.waiting += 1
        counts = self.counts
        for code in _distinct(codes):
            n = counts.get(code, 0)
            counts[code] = n + 1
            if not n:
                spelled = self.spelled[code] = orjson.dumps(code).decode("utf-8")
                if '"' in code:
                    self.quoted[code] = spelled
                else:
                    self.plain[spelled[1:-1]] = code

    def done(self, codes: list[str] | None) -> None:
        self.waiting -= 1
        counts = self.counts
        for code in _distinct(codes):
            n = counts[code] - 1
            if n:
                counts[code] = n
                continue
            del counts[code]
            spelled = self.spelled.pop(code)
            if '"' in code:
                del self.quoted[code]
            else:
                del self.plain[spelled[1:-1]]

    def look(self, text: str) -> None:
        """Note which asked codes the created resource's JSON ``text`` holds as a string, or may (a
        superset: keys count too), in time linear in the text (not in the number of codes)."""
        held = self.held
        if len(self.spelled) <= _FEW:
            for code, spelled in self.spelled.items():
                if spelled in text:
                    held.add(code)
            return
        if self.plain:
            # a string without a quote is one whole piece between two quotes (escaped ones included);
            # the intersection iterates the smaller side (the pieces, or the codes still asked)
            for piece in self.plain.keys() & set(text.split('"')):
                held.add(self.plain[piece])
        quoted = self.quoted
        if len(quoted) <= _FEW:
            for code, spelled in quoted.items():
                if spelled in text:
                    held.add(code)
            return
        stack: list[Any] = [orjson.loads(text)]
        while stack:
            item = stack.pop()
            kind: type[object] = type(item)  # pyright: ignore[reportUnknownVariableType]
            if kind is dict:
                stack.extend(item.values())
            elif kind is list:
                stack.extend(item)
            elif kind is str and item in quoted:
                held.add(item)


class _Written:
    """What the resources a transaction created so far hold, as far as its waiting conditional
    creates ask, per type.

    A conditional create's first look-up runs before the transaction writes anything. When its
    criteria are plain tokens (:func:`_token_codes`) and no resource of its type created since holds
    every code they ask for as a string (these elements are strings in every resource that passed
    validation, and every created one did), none of them can match, so the first answer is the one the
    engine would give in the entry's turn and is used as it is; otherwise the engine is asked again.

    Only the codes still asked are looked for in a created resource's stored text. That text is
    orjson's (``_fhir.canonical``; a Decimal is a bare number there, never a string), and so is the
    text of a code (``orjson.dumps``): a string value ``code`` appears in it exactly as
    ``orjson.dumps(code)``, so finding that text is a superset test of holding the value."""

    def __init__(self, entries: list[_Entry]) -> None:
        self._types: dict[str, _Asked] = {}
        self._created: set[str] = set()
        for entry in entries:
            if entry.matched is not None:
                self._types.setdefault(entry.segs[0], _Asked()).ask(entry.codes)

    def first_answer_holds(self, rtype: str, codes: list[str] | None) -> bool:
        """A waiting conditional create's turn has come (it asks no more of what is created after):
        whether no resource of its type created since its first look-up may match ``codes``."""
        asked = self._types[rtype]
        asked.done(codes)
        if rtype not in self._created:
            return True
        if codes is None:
            return False
        return not asked.held.issuperset(codes)

    def add(self, rtype: str, text: str | None) -> None:
        asked = self._types.get(rtype)
        if text is None or asked is None or asked.waiting <= 0:
            return
        self._created.add(rtype)
        if asked.counts:
            asked.look(text)


def _answer(btype: str, entries: list[str], wanted: Return) -> Result:
    headers = [] if wanted == "representation" else [("Preference-Applied", f"return={wanted}")]
    return Result(200, bundle_bytes(btype=btype, total=None, links=[], entries=entries), headers)


def _entry_failure(index: int, err: GatewayError) -> GatewayError:
    """The whole transaction fails with the failing entry's status and code; nothing was written."""
    where = f"Bundle.entry[{index}]"
    issues = [
        {**issue, "expression": [where, *issue.get("expression", [])]}
        for issue in (err.issues or [ErrorIssue("error", "processing", err.message).as_json()])
    ]
    return GatewayError(
        err.status,
        err.code,
        f"Transaction entry {index} failed: {err.message}",
        issues=issues,
        fhir=True,
        headers=err.headers,
    )
