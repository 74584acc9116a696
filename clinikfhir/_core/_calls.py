"""The :class:`Core`: configuration, tenant memory and one builder per operation (``call_*``).

A client holds one private ``Core``; each public method builds a :class:`Call` here and hands it to
its shell's send loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx

from clinikfhir._checks import (
    FHIR_JSON,
    JSON_PATCH,
    ParamsLike,
    cap_body,
    check_id,
    check_id_like_query,
    clean_path,
    encode_body,
    etag_for,
    etag_for_str,
    guard_json_body,
    guard_params,
    guard_resource,
    is_text,
    normalise_params,
    resource_json,
)
from clinikfhir._config import Config, origin_of
from clinikfhir._core._body import ACCEPT_ENCODING
from clinikfhir._core._errors import decode_body
from clinikfhir._core._exchange import Call
from clinikfhir._log import install_httpx_filter
from clinikfhir._meta import ResponseMeta
from clinikfhir._version import __version__
from clinikfhir.bundle import BundleResponse, Page, PreferReturn, Transaction, prefer_header, to_model, type_name
from clinikfhir.errors import (
    InvalidArgumentError,
    InvalidResponseError,
    LocalValidationError,
    UnsupportedSearchError,
)
from clinikfhir.patch import JsonPatch
from clinikfhir.refs import resolve_locally

if TYPE_CHECKING:
    from clinikfhir._issues import Issue
    from clinikfhir.models import CapabilityStatement, OperationOutcome, Reference, Resource

R = TypeVar("R", bound="Resource")

_OP_NAME = re.compile(r"^\$?[A-Za-z][A-Za-z0-9_-]*$")


@dataclass
class ResponseCapture:
    """The response metadata of the calls made inside one ``with clinik.capture_response()`` block,
    in this thread or task only: ``meta`` is the last one, ``metas`` all of them (retries included)."""

    metas: list[ResponseMeta] = field(default_factory=lambda: [])

    @property
    def meta(self) -> ResponseMeta | None:
        """The metadata of the last response inside the block (None before any)."""
        return self.metas[-1] if self.metas else None


#: one variable for the whole process (never one per client): the capture open in this context
CAPTURE: ContextVar[ResponseCapture | None] = ContextVar("clinikfhir_response_capture", default=None)


class Core:
    """Configuration, response metadata and every operation's :class:`Call` (private to the clients)."""

    def __init__(self, config: Config) -> None:
        install_httpx_filter()  # httpx logs full URLs (search values, ids) at INFO: redact them
        self.config = config
        self._timeout = httpx.Timeout(config.timeout).as_dict()
        self._user_agent = f"clinikfhir/{__version__}"
        self._root = config.root
        self._origin = config.origin
        #: the metadata of the last response this client received (any thread or task)
        self.last: ResponseMeta | None = None

    # --- metadata

    def remember(self, meta: ResponseMeta) -> None:
        """Record ``meta`` as the last response, and in the caller's open :class:`ResponseCapture`
        if any (called by :class:`Exchange`). No per-client context state: nothing can leak."""
        self.last = meta
        capture = CAPTURE.get()
        if capture is not None:
            capture.metas.append(meta)

    # --- request building

    def build_request(self, call: Call[Any], idempotency_key: str | None = None) -> httpx.Request:
        """The ``httpx.Request`` for ``call``; the key is attached only for the configured origin."""
        url = call.url if call.url is not None else httpx.URL(self._root + call.path)
        if call.url is None and call.params:
            url = url.copy_merge_params(httpx.QueryParams(tuple(call.params)))
        headers = {"accept": FHIR_JSON, "accept-encoding": ACCEPT_ENCODING, "user-agent": self._user_agent}
        if call.auth:
            if origin_of(url) != self._origin:  # defensive: every URL is built from the base
                raise InvalidArgumentError("refusing to send the API key to a different origin")
            headers["x-api-key"] = self.config.api_key.reveal()
        if call.body is not None:
            headers["content-type"] = call.content_type or FHIR_JSON
        if idempotency_key is not None:
            headers["idempotency-key"] = idempotency_key
        headers.update(call.headers)
        return httpx.Request(
            call.method, url, headers=headers, content=call.body, extensions={"timeout": self._timeout}
        )

    # --- local validation

    def _validate(self, resource: Resource | dict[str, Any], validate: bool | None) -> tuple[Issue, ...]:
        """Raise :class:`LocalValidationError` on blocking issues; return the others (reported, not dropped)."""
        if validate is False or (validate is None and not self.config.validate_writes):
            return ()
        from clinikfhir.validation import validate as run_validation

        issues = run_validation(resource)
        blocking = [i for i in issues if i.is_error or (self.config.reject_warnings and i.severity == "warning")]
        if blocking:
            name = str(resource.get("resourceType")) if isinstance(resource, dict) else type_name(type(resource))
            raise LocalValidationError(name, issues, blocking=blocking)
        return tuple(issues)

    # --- answer readers

    def _strict(self, strict: bool | None) -> bool:
        return self.config.strict if strict is None else strict

    def _reader(self, model: type[R], strict: bool | None = None) -> Callable[[httpx.Response, ResponseMeta], R]:
        full = self._strict(strict)

        def read(response: httpx.Response, meta: ResponseMeta) -> R:
            data = decode_body(response, meta)
            return to_model(data, model, strict=full, request_id=meta.request_id)

        return read

    def _page_reader(
        self, model: type[R], strict: bool | None = None, *, posted_type: str | None = None
    ) -> Callable[[httpx.Response, ResponseMeta], Page[R]]:
        full = self._strict(strict)

        def read(response: httpx.Response, meta: ResponseMeta) -> Page[R]:
            data = decode_body(response, meta)
            if not isinstance(data, dict):
                raise InvalidResponseError("expected a Bundle", request_id=meta.request_id)
            return Page(model, cast("dict[str, Any]", data), meta, strict=full, posted_type=posted_type)

        return read

    def _any_reader(self, response: httpx.Response, meta: ResponseMeta) -> Resource | None:
        from clinikfhir.models import Resource

        if response.status_code == 204 or not response.content.strip():
            return None
        data = decode_body(response, meta)
        return to_model(data, Resource, strict=self.config.strict, request_id=meta.request_id)

    @staticmethod
    def _nothing(response: httpx.Response, meta: ResponseMeta) -> None:
        return None

    # --- calls: one builder per operation

    def _path(self, model: type[Resource], *parts: str) -> str:
        name = type_name(model)
        if name in ("Resource", "DomainResource"):
            raise InvalidArgumentError("pass a concrete resource class such as Patient, not the Resource base")
        return "/v1/fhir/" + "/".join((name, *parts))

    def call_read(self, model: type[R], id: str, *, strict: bool | None = None) -> Call[R]:
        """GET /v1/fhir/{Type}/{id}."""
        return Call("GET", self._path(model, check_id(id)), type_name(model), self._reader(model, strict))

    def call_resolve(
        self,
        reference: Reference | str,
        model: type[R],
        *,
        container: Resource | None,
        within: BundleResponse | None,
    ) -> R | Call[R]:
        """What ``clinik.resolve`` needs: the resource itself when the reference is local (``#id`` in
        ``container``, ``urn:uuid:`` in ``within``), else the read or vread to send."""
        found, parsed = resolve_locally(
            reference, model, fhir_base=self.config.root + "/v1/fhir", container=container, within=within
        )
        if found is not None:
            return found
        assert parsed.id is not None
        if parsed.version is not None:
            return self.call_vread(model, parsed.id, parsed.version)
        return self.call_read(model, parsed.id)

    def call_vread(self, model: type[R], id: str, version_id: str, *, strict: bool | None = None) -> Call[R]:
        """GET /v1/fhir/{Type}/{id}/_history/{vid}."""
        path = self._path(model, check_id(id), "_history", check_id(version_id, "version_id"))
        return Call("GET", path, type_name(model), self._reader(model, strict))

    def call_create(self, resource: R, *, validate: bool | None, if_none_exist: Any) -> Call[R]:
        """POST /v1/fhir/{Type} after local validation and the tenant guard (``If-None-Exist`` from a
        typed query or a query string)."""
        model = type(resource)
        guard_resource(resource, create=True)
        issues = self._validate(resource, validate)
        if if_none_exist is not None and not isinstance(if_none_exist, str):
            from clinikfhir.bundle import criteria

            if_none_exist = criteria(if_none_exist, type_name(model), "if_none_exist")
        headers = {"if-none-exist": check_id_like_query(if_none_exist)} if if_none_exist else {}
        from clinikfhir.models import dump_bytes

        body = cap_body(dump_bytes(resource))
        return Call(
            "POST",
            self._path(model),
            type_name(model),
            self._reader(model),
            body=body,
            headers=headers,
            validation_issues=issues,
        )

    def call_update(self, resource: R, *, if_match: str | bool, validate: bool | None) -> Call[R]:
        """PUT /v1/fhir/{Type}/{id} with If-Match from meta.versionId by default."""
        model = type(resource)
        rid = check_id(resource.id, f"{type_name(model)}.id")
        guard_resource(resource, create=False)
        issues = self._validate(resource, validate)
        etag = etag_for(resource, if_match)
        from clinikfhir.models import dump_bytes

        body = cap_body(dump_bytes(resource))
        headers = {"if-match": etag} if etag else {}
        return Call(
            "PUT",
            self._path(model, rid),
            type_name(model),
            self._reader(model),
            body=body,
            headers=headers,
            validation_issues=issues,
        )

    def call_patch(
        self, model: type[R], id: str, patch: JsonPatch | Sequence[Mapping[str, Any]], *, if_match: str | None
    ) -> Call[R]:
        """PATCH /v1/fhir/{Type}/{id} with an RFC 6902 body (paths checked against ``model``)."""
        if not isinstance(patch, JsonPatch):
            given = cast(object, patch)
            if isinstance(given, (str, bytes)) or not isinstance(given, Sequence):
                raise InvalidArgumentError("patch must be a JsonPatch or a list of operation dicts")
            patch = JsonPatch(None, patch)
        patch = cast("JsonPatch[Any]", patch)  # pyright narrows the union to JsonPatch[Unknown]
        if not len(patch):
            raise InvalidArgumentError("an empty patch changes nothing")
        patch.check(model)
        headers = {"if-match": etag_for_str(if_match)} if if_match else {}
        return Call(
            "PATCH",
            self._path(model, check_id(id)),
            type_name(model),
            self._reader(model),
            body=encode_body(patch.operations),
            content_type=JSON_PATCH,
            headers=headers,
        )

    def call_delete(self, model: type[Resource], id: str, *, if_match: str | None) -> Call[None]:
        """DELETE /v1/fhir/{Type}/{id}."""
        headers = {"if-match": etag_for_str(if_match)} if if_match else {}
        return Call("DELETE", self._path(model, check_id(id)), type_name(model), self._nothing, headers=headers)

    def _criteria_pairs(self, match: Any, model: type[Resource], where: str) -> list[tuple[str, str]]:
        from clinikfhir.bundle import criteria

        pairs = list(httpx.QueryParams(criteria(match, type_name(model), where)).multi_items())
        guard_params(pairs)
        return pairs

    def call_upsert(self, resource: R, match: Any, *, validate: bool | None) -> Call[R]:
        """PUT /v1/fhir/{Type}?criteria (conditional update): update the one match, or create."""
        model = type(resource)
        pairs = self._criteria_pairs(match, model, "upsert match")
        guard_resource(resource, create=True)
        issues = self._validate(resource, validate)
        from clinikfhir.models import dump_bytes

        body = cap_body(dump_bytes(resource))
        return Call(
            "PUT", self._path(model), type_name(model), self._reader(model), params=pairs, body=body,
            validation_issues=issues,
        )  # fmt: skip

    def call_delete_where(self, model: type[Resource], match: Any) -> Call[None]:
        """DELETE /v1/fhir/{Type}?criteria (conditional delete of the one match)."""
        pairs = self._criteria_pairs(match, model, "delete match")
        return Call("DELETE", self._path(model), type_name(model), self._nothing, params=pairs)

    def call_find_one(self, model: type[R], match: Any) -> Call[Page[R]]:
        """GET /v1/fhir/{Type}?criteria&_count=2: enough to tell one match from several."""
        pairs = [p for p in self._criteria_pairs(match, model, "patch match") if p[0] != "_count"]
        return self.call_search(model, [*pairs, ("_count", "2")])

    def call_history(
        self, model: type[R], id: str | None, *, count: int | None, since: str | None, strict: bool | None = None
    ) -> Call[Page[R]]:
        """GET /v1/fhir/{Type}[/{id}]/_history."""
        path = self._path(model, check_id(id), "_history") if id is not None else self._path(model, "_history")
        params = normalise_params({"_count": count, "_since": since})
        return Call("GET", path, type_name(model), self._page_reader(model, strict), params=params)

    def call_search(
        self, model: type[R], params: ParamsLike, *, post: bool = False, resource_type: str | None = None
    ) -> Call[Page[R]]:
        """GET /v1/fhir/{Type}?... (or POST {Type}/_search with a form body).

        ``resource_type`` names the type when ``model`` is :class:`GenericResource` (R4-only types).
        """
        pairs = normalise_params(params)
        guard_params(pairs)
        name = self._search_type(model, resource_type)
        if post:
            return self._post_search(model, name, pairs, None)
        return Call("GET", f"/v1/fhir/{name}", name, self._page_reader(model), params=pairs, search=pairs)

    def check_search_call(self, capabilities: CapabilityStatement, call: Call[Any]) -> None:
        """Raise :class:`~clinikfhir.search.UnsupportedSearchError` if ``capabilities`` does not support
        the search ``call`` (the builder's own checker, on the raw parameter list)."""
        from clinikfhir.search._capabilities import problems_for

        problems = problems_for(capabilities, call.resource_type, call.search or [])
        if problems:
            raise UnsupportedSearchError(call.resource_type, problems)

    def _post_search(
        self, model: type[R], name: str, pairs: list[tuple[str, str]], strict: bool | None
    ) -> Call[Page[R]]:
        """``POST [type]/_search`` with the parameters as a form body: no value in the URL."""
        body = str(httpx.QueryParams(tuple(pairs))).encode()
        return Call(
            "POST",
            f"/v1/fhir/{name}/_search",
            name,
            self._page_reader(model, strict, posted_type=name),
            body=cap_body(body),
            content_type="application/x-www-form-urlencoded",
            retry_safe=True,
            search=pairs,
        )

    def _search_type(self, model: type[Resource], resource_type: str | None) -> str:
        name = type_name(model)
        if resource_type is None or resource_type == name:
            self._path(model)  # refuses the open base classes
            return name
        from clinikfhir._generated.resource_types import R4_ONLY_TYPES

        if name != "Resource" or resource_type not in R4_ONLY_TYPES:
            raise InvalidArgumentError(f"resource_type {resource_type!r} does not match the model {model.__name__}")
        return resource_type

    def call_next(self, page: Page[R]) -> Call[Page[R]] | None:
        """GET the page's ``next`` link, only if it stays on the configured origin and API path."""
        link = page.next_url
        if link is None:
            return None
        try:
            url = httpx.URL(self.config.root + "/").join(link)
        except (httpx.InvalidURL, TypeError):
            raise InvalidResponseError("the next link is not a valid URL", request_id=page.meta.request_id) from None
        base_path = self.config.base_url.path.rstrip("/")
        if origin_of(url) != self.config.origin or not url.path.startswith(base_path + "/v1/fhir/"):
            raise InvalidResponseError(
                "the next link points outside the configured base URL; not followed "
                "(the API key is only ever sent to the configured origin)",
                request_id=page.meta.request_id,
            )
        if url.userinfo or ".." in url.path.split("/"):
            raise InvalidResponseError("the next link is malformed; not followed", request_id=page.meta.request_id)
        model = page.model
        if page.posted_type is not None:
            # a search sent as POST stays a POST: the link's query goes into the form body, never the URL
            pairs = list(url.params.multi_items())
            guard_params(pairs)
            return self._post_search(model, page.posted_type, pairs, page.strict)
        return Call("GET", url.path, type_name(model), self._page_reader(model, page.strict), url=url)

    def call_operation(
        self,
        name: str,
        *,
        model: type[Resource] | None,
        id: str | None,
        parameters: Resource | Mapping[str, Any] | None,
        params: ParamsLike,
        method: str,
        result: type[R] | None,
    ) -> Call[Any]:
        """``$op`` at system-less type or instance level, GET (query) or POST (Parameters/resource body)."""
        if not is_text(name) or not _OP_NAME.fullmatch(name):
            raise InvalidArgumentError("operation name must look like '$everything' or 'validate'")
        op = name if name.startswith("$") else "$" + name
        method = method.upper()
        if method not in ("GET", "POST"):
            raise InvalidArgumentError("operations are invoked with GET or POST")
        if model is None:
            if id is not None:
                raise InvalidArgumentError("an instance-level operation needs the model as well as the id")
            raise InvalidArgumentError("pass model=... (system-level operations are not supported by the gateway)")
        path = self._path(model, check_id(id), op) if id is not None else self._path(model, op)
        pairs = normalise_params(params)
        guard_params(pairs)
        body: bytes | None = None
        if parameters is not None:
            if method == "GET":
                raise InvalidArgumentError("a GET operation takes params=..., not a body")
            from clinikfhir.models import Resource as _Resource

            if isinstance(parameters, _Resource):
                guard_resource(parameters, create=False)
                data = resource_json(parameters)
            else:
                data = dict(parameters)
                guard_json_body(data, create=False)
            body = encode_body(data)
        elif method == "POST":
            body = encode_body({"resourceType": "Parameters"})
        reader: Callable[[httpx.Response, ResponseMeta], Any] = (
            self._reader(result) if result is not None else self._any_reader
        )
        return Call(method, path, type_name(model), reader, params=pairs, body=body)

    def call_everything(
        self, model: type[Resource], id: str, params: ParamsLike, *, strict: bool | None = None
    ) -> Call[Page[Resource]]:
        """GET /v1/fhir/{Type}/{id}/$everything as a page of any resource types."""
        from clinikfhir.models import Resource

        pairs = normalise_params(params)
        guard_params(pairs)
        return Call(
            "GET",
            self._path(model, check_id(id), "$everything"),
            type_name(model),
            self._page_reader(Resource, strict),
            params=pairs,
        )

    def call_validate(self, resource: Resource) -> Call[OperationOutcome]:
        """POST /v1/fhir/{Type}/$validate with the resource; the server's verdict as an OperationOutcome."""
        from clinikfhir.models import OperationOutcome

        model = type(resource)
        reader = self._reader(OperationOutcome)

        def read(response: httpx.Response, meta: ResponseMeta) -> OperationOutcome:
            return reader(response, meta)

        return Call(
            "POST",
            self._path(model, "$validate"),
            type_name(model),
            read,
            body=encode_body(resource_json(resource)),
            retry_safe=True,
        )

    def call_capabilities(self) -> Call[CapabilityStatement]:
        """GET /v1/metadata without the key."""
        from clinikfhir.models import CapabilityStatement

        return Call("GET", "/v1/metadata", "CapabilityStatement", self._reader(CapabilityStatement), auth=False)

    def call_bundle(
        self,
        kind: str,
        tx: Transaction | Sequence[Resource] | Resource | Mapping[str, Any],
        *,
        validate: bool | None,
        prefer_return: PreferReturn | None = None,
    ) -> Call[BundleResponse]:
        """POST /v1/fhir with a transaction or batch Bundle (every written resource checked first).

        ``tx`` is a :class:`Transaction`, a list of models, or a ready ``Bundle`` (model or dict) of
        type ``transaction``/``batch`` (a Synthea-style file), sent as it is. ``prefer_return`` sends
        ``Prefer: return=...`` (FHIR R4 http.html#return); the answer is read alike whether or not the
        server honours it.
        """
        headers = prefer_header(prefer_return)
        if isinstance(tx, Mapping):  # a JSON Bundle: no model class imported on this path
            call = self._call_ready_bundle(kind, tx, validate)
            call.headers.update(headers)
            return call
        from clinikfhir.models import Resource as _Resource

        if isinstance(tx, _Resource) and type_name(type(tx)) == "Bundle":
            call = self._call_ready_bundle(kind, tx, validate)
            call.headers.update(headers)
            return call
        if not isinstance(tx, Transaction):
            given = cast(object, tx)  # callers may not be type-checked
            if isinstance(given, (_Resource, str, bytes)) or not isinstance(given, Sequence):
                raise InvalidArgumentError(
                    f"{kind}() takes a Transaction, a list of resources, or a {kind} Bundle (model or dict)"
                )
            tx = Transaction(list(cast("Sequence[Resource]", given)))
        issues: list[Issue] = []
        blocking: list[Issue] = []
        for index, method, resource in tx.indexed_resources:
            guard_resource(resource, create=method == "POST", where=f"Bundle.entry[{index}].resource")
            name = type_name(type(resource))
            try:
                issues.extend(entry_issue(i, name, index) for i in self._validate(resource, validate))
            except LocalValidationError as exc:
                issues.extend(entry_issue(i, name, index) for i in exc.issues)
                blocking.extend(entry_issue(i, name, index) for i in exc.blocking)
        if blocking:
            raise LocalValidationError(f"{kind} Bundle", issues, blocking=blocking)
        body = encode_body(tx.to_json("transaction" if kind == "transaction" else "batch"))
        refs = tx.refs

        def read(response: httpx.Response, meta: ResponseMeta) -> BundleResponse:
            data = decode_body(response, meta)
            if not isinstance(data, dict):
                raise InvalidResponseError("expected a Bundle", request_id=meta.request_id)
            return BundleResponse(cast("dict[str, Any]", data), meta, refs, strict=self.config.strict)

        return Call("POST", "/v1/fhir", "Bundle", read, body=body, headers=headers, validation_issues=tuple(issues))

    def _call_ready_bundle(
        self, kind: str, bundle: Resource | Mapping[str, Any], validate: bool | None
    ) -> Call[BundleResponse]:
        """A Bundle the caller built: its type must be ``kind``; each entry's resource goes through
        the tenant guard and local validation like any write."""
        data = dict(bundle) if isinstance(bundle, Mapping) else resource_json(bundle)
        if data.get("resourceType") != "Bundle" or data.get("type") != kind:
            raise InvalidArgumentError(f"{kind}() takes a Bundle of type {kind!r}, got type {data.get('type')!r}")
        raw_entries: object = data.get("entry") or []
        if not isinstance(raw_entries, list):
            raise InvalidArgumentError("Bundle.entry must be a list")
        issues: list[Issue] = []
        blocking: list[Issue] = []
        refs: list[str | None] = []
        for index, item in enumerate(cast("list[object]", raw_entries)):
            entry = cast("dict[str, Any]", item) if isinstance(item, dict) else {}
            request = entry.get("request")
            method = str(cast("dict[str, Any]", request).get("method", "")) if isinstance(request, dict) else ""
            if not method:
                raise InvalidArgumentError(f"Bundle.entry[{index}].request.method is required in a {kind}")
            full_url = entry.get("fullUrl")
            refs.append(full_url if isinstance(full_url, str) else None)
            resource = entry.get("resource")
            if not isinstance(resource, dict):
                continue
            body = cast("dict[str, Any]", resource)
            guard_json_body(body, create=method.upper() == "POST")
            name = str(body.get("resourceType"))
            try:
                issues.extend(entry_issue(i, name, index) for i in self._validate(body, validate))
            except LocalValidationError as exc:
                issues.extend(entry_issue(i, name, index) for i in exc.issues)
                blocking.extend(entry_issue(i, name, index) for i in exc.blocking)
        if blocking:
            raise LocalValidationError(f"{kind} Bundle", issues, blocking=blocking)

        def read(response: httpx.Response, meta: ResponseMeta) -> BundleResponse:
            answer = decode_body(response, meta)
            if not isinstance(answer, dict):
                raise InvalidResponseError("expected a Bundle", request_id=meta.request_id)
            return BundleResponse(cast("dict[str, Any]", answer), meta, refs, strict=self.config.strict)

        return Call("POST", "/v1/fhir", "Bundle", read, body=encode_body(data), validation_issues=tuple(issues))

    def call_raw(
        self,
        method: str,
        path: str,
        body: Resource | Mapping[str, Any] | Sequence[Any] | None,
        params: ParamsLike,
        *,
        validate: bool | None = None,
    ) -> Call[Resource | None]:
        """The ``request()`` escape hatch: any method and path under ``/v1/fhir``; answer typed by resourceType.

        A POST or PUT whose body is a resource (a model, or a dict with ``resourceType``) is validated
        locally like ``create``/``update`` (``validate=False`` skips it) and goes through the tenant
        guard: a POST to a type (a create) may carry no tenant tag, any other write at most one.
        """
        if not is_text(method) or method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise InvalidArgumentError("method must be one of GET, POST, PUT, PATCH, DELETE")
        method = method.upper()
        raw_path, query = clean_path(path)
        pairs = query + normalise_params(params)
        guard_params(pairs)
        data: Any
        content_type = JSON_PATCH if method == "PATCH" else FHIR_JSON
        payload: bytes | None = None
        issues: tuple[Issue, ...] = ()
        if body is not None:
            from clinikfhir.models import Resource as _Resource

            if isinstance(body, JsonPatch):
                data = body.operations
            elif isinstance(body, _Resource):
                data = resource_json(body)
            elif isinstance(body, (Mapping, list, tuple)):
                data = dict(body) if isinstance(body, Mapping) else list(cast("Sequence[Any]", body))
            else:
                raise InvalidArgumentError("body must be a model, a dict, a list (JSON Patch) or None")
            segments = raw_path.strip("/").split("/")
            is_create = method == "POST" and len(segments) == 1 and segments[0][:1].isupper()
            guard_json_body(data, create=is_create)
            if method in ("POST", "PUT") and isinstance(data, dict):
                as_json = cast("dict[str, Any]", data)
                if isinstance(as_json.get("resourceType"), str):
                    issues = self._validate(body if isinstance(body, _Resource) else as_json, validate)
            if method == "PATCH" and isinstance(data, dict):
                content_type = FHIR_JSON  # merge-style partial resource
            payload = encode_body(data)
        rtype = raw_path.split("/")[1] if len(raw_path) > 1 else ""
        return Call(
            method,
            "/v1/fhir" + raw_path,
            rtype,
            self._any_reader,
            params=pairs,
            body=payload,
            content_type=content_type,
            validation_issues=issues,
        )


def entry_issue(issue: Issue, resource_type: str, index: int) -> Issue:
    """``issue`` of a Bundle entry's resource, its path rooted at the entry as ``validate(bundle)`` gives:
    ``Patient.gender`` of entry 2 -> ``Bundle.entry[2].resource.gender``."""
    import dataclasses

    root = f"Bundle.entry[{index}].resource"
    path = issue.path
    if path == resource_type:
        path = root
    elif path.startswith(resource_type + ".") or path.startswith(resource_type + "["):
        path = root + path[len(resource_type) :]
    else:
        path = f"{root}.{path}" if path else root
    return dataclasses.replace(issue, path=path)
