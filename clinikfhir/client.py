"""``Clinik``: the synchronous client. A thin shell over :mod:`clinikfhir._core` that only sends."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import httpx

from clinikfhir._config import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, Config
from clinikfhir._core import Call, Done, Exchange, ParamsLike, Wait
from clinikfhir._core._shell import ClientBase
from clinikfhir._generated.search_mixin import SearchMixin
from clinikfhir._public import shown_as_root
from clinikfhir._retry import RetryPolicy
from clinikfhir.bundle import BundleResponse, Page, PreferReturn, Transaction, single
from clinikfhir.errors import ConfigurationError, InvalidArgumentError
from clinikfhir.patch import JsonPatch

if TYPE_CHECKING:
    from clinikfhir.models import Bundle, CapabilityStatement, OperationOutcome, Reference, Resource
    from clinikfhir.search import Query

__all__ = ["Clinik"]

T = TypeVar("T")
R = TypeVar("R", bound="Resource")
M = TypeVar("M", bound="Resource")


class Clinik(SearchMixin, ClientBase):
    """Synchronous client for the ClinikAPI FHIR passthrough, typed by the model classes you pass.

    >>> from clinikfhir.models import Patient
    >>> with Clinik() as clinik:                       # doctest: +SKIP
    ...     p = clinik.read(Patient, "pt_abc123")      # -> Patient

    ``api_key`` defaults to ``CLINIK_API_KEY``, ``base_url`` to ``CLINIK_BASE_URL`` then
    ``https://api.clinikapi.com``. Pass ``http_client`` to reuse your own ``httpx.Client`` (it is not
    closed by :meth:`close`), or ``transport`` (e.g. ``Sandbox().transport()``) to talk to an
    in-process sandbox. Metadata of the last call made in the current thread: :attr:`last_response`.

    ``validate=False`` turns local validation of writes off (per call: ``create(..., validate=False)``);
    ``reject_warnings=True`` blocks writes on warnings too, not only errors; ``strict=True``
    re-validates everything read; ``check_search_capabilities=True`` checks every
    search against the server's CapabilityStatement before sending it.

    Bounds: ``timeout`` is the total time one attempt may take (connecting, sending and reading,
    however slowly a server trickles bytes: :class:`~clinikfhir.errors.DeadlineExceededError`), and
    the retry policy's ``deadline`` bounds the whole call; a response body larger than
    ``max_response_bytes`` after decompression (default 64 MiB) is not read further
    (:class:`~clinikfhir.errors.ResponseTooLargeError`).

    Logging: the ``clinikfhir`` logger never records bodies, keys, ids or search values. httpx's own
    ``httpx`` logger writes every request URL at INFO; creating a client installs (once per process)
    a filter there that keeps scheme, host and path structure and replaces each query value and id
    with ``***`` (``GET https://api.clinikapi.com/v1/fhir/Patient?family=***``). Warnings and
    information notes from local validation of a write are on ``last_response.validation_issues``
    and logged once per write at WARNING (count, paths and rule keys only).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int | RetryPolicy = 2,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        validate: bool = True,
        strict: bool = False,
        reject_warnings: bool = False,
        check_search_capabilities: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        super().__init__(
            Config.build(
                api_key,
                base_url,
                timeout,
                retries,
                validate_writes=validate,
                strict=strict,
                reject_warnings=reject_warnings,
                max_response_bytes=max_response_bytes,
            )
        )
        if http_client is not None and transport is not None:
            raise ConfigurationError("pass http_client or transport, not both")
        self.check_search_capabilities = check_search_capabilities
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=10),
        )

    # --- lifecycle

    def close(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Clinik:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- sending

    def _send(self, call: Call[T]) -> T:
        exchange = Exchange(self._core, call)
        while True:
            request = exchange.begin()
            step: Done[T] | Wait
            failure: httpx.RequestError | None = None
            response: httpx.Response | None = None
            try:
                response = self._receive(request, exchange)
            except httpx.RequestError as exc:
                failure = exc  # handled outside the except block, so no error chains to it (it holds the key)
            if response is not None:
                step = exchange.on_response(response)
            else:
                assert failure is not None
                step = exchange.on_error(failure)
                del failure
            if isinstance(step, Done):
                return step.value
            if step.seconds > 0:
                time.sleep(step.seconds)

    def _receive(self, request: httpx.Request, exchange: Exchange[Any]) -> httpx.Response:
        """Send and read the body, counting decompressed bytes against the cap and time against
        the attempt's deadline (httpx's own timeouts are per read)."""
        response = self._http.send(request, follow_redirects=False, stream=True)
        if response.is_stream_consumed:  # an in-process transport answers with the body loaded
            exchange.check_loaded(len(response.content))
            return response
        try:
            reader = exchange.reader(response)  # streamed: time is checked after every chunk
            for chunk in response.iter_raw():
                reader.feed(chunk)
        finally:
            response.close()
        return exchange.buffered(response, reader.finish())

    # --- operations

    def read(self, model: type[R], id: str, *, strict: bool | None = None) -> R:
        """Read ``model`` ``id``: ``clinik.read(Patient, "pt_1") -> Patient``.

        ``strict=True`` re-validates the answer in full for this call (default: the client's setting).
        """
        return self._send(self._core.call_read(model, id, strict=strict))

    def vread(self, model: type[R], id: str, version_id: str, *, strict: bool | None = None) -> R:
        """Read one version of a resource (``/{Type}/{id}/_history/{vid}``)."""
        return self._send(self._core.call_vread(model, id, version_id, strict=strict))

    def create(
        self, resource: R, *, validate: bool | None = None, if_none_exist: Query[R, Any] | str | None = None
    ) -> R:
        """Create ``resource`` (validated locally first); returns it with the server's id and meta.

        ``validate=False`` skips local validation for this call; ``if_none_exist`` makes the create
        conditional: a typed query on the same type (``clinik.search(Patient).identifier((MRN, "1"))``)
        or a query string (``"identifier=http://x|123"``). When one resource matches, it is returned
        and nothing is created.
        """
        return self._send(self._core.call_create(resource, validate=validate, if_none_exist=if_none_exist))

    def update(self, resource: R, *, if_match: str | bool = True, validate: bool | None = None) -> R:
        """Replace ``resource`` (PUT by its id), sending ``If-Match`` from ``meta.versionId`` unless
        ``if_match=False``; a stale version raises :class:`~clinikfhir.errors.VersionConflictError`."""
        return self._send(self._core.call_update(resource, if_match=if_match, validate=validate))

    @overload
    def patch(
        self,
        model: type[R],
        id: str,
        patch: JsonPatch[R] | list[Mapping[str, Any]],
        *,
        if_match: str | None = None,
    ) -> R: ...
    @overload
    def patch(
        self, model: type[R], *, match: Query[R, Any] | str, patch: JsonPatch[R] | list[Mapping[str, Any]]
    ) -> R: ...
    def patch(
        self,
        model: type[R],
        id: str | None = None,
        patch: JsonPatch[R] | list[Mapping[str, Any]] | None = None,
        *,
        if_match: str | None = None,
        match: Query[R, Any] | str | None = None,
    ) -> R:
        """Apply an RFC 6902 patch: ``clinik.patch(Patient, id, JsonPatch(Patient).replace("/gender", "female"))``.

        The patch is typed by its model, so a ``JsonPatch[Observation]`` for a Patient is a type error.
        ``match=query`` (instead of an id) patches the one resource the query selects: it is found
        with a search (``NoMatchError`` / ``MultipleMatchesError`` otherwise) and patched with
        ``If-Match`` on the version found, so a concurrent change fails with ``VersionConflictError``
        instead of being overwritten (the gateway has no ``PATCH [type]?criteria``).
        """
        if patch is None:
            raise InvalidArgumentError("patch(): give the patch")
        if match is None:
            if id is None:
                raise InvalidArgumentError("patch(): pass an id or match=")
            return self._send(self._core.call_patch(model, id, patch, if_match=if_match))
        if id is not None or if_match is not None:
            raise InvalidArgumentError("patch(): match= selects the resource and its version; pass no id or if_match")
        found: Page[R] = self._send(self._core.call_find_one(model, match))
        target = single(found, "patch(match=...)")
        version = target.meta.versionId if target.meta is not None else None
        return self._send(self._core.call_patch(model, target.id or "", patch, if_match=version))

    @overload
    def delete(self, model: type[R], id: str, *, if_match: str | None = None) -> None: ...
    @overload
    def delete(self, model: type[R], *, match: Query[R, Any] | str) -> None: ...
    def delete(
        self,
        model: type[R],
        id: str | None = None,
        *,
        if_match: str | None = None,
        match: Query[R, Any] | str | None = None,
    ) -> None:
        """Delete ``model`` ``id``, or (``match=query``) the one resource the query selects
        (``DELETE [type]?criteria``; the server refuses when several match). A query without
        criteria is refused locally: it would select every resource of the type."""
        if (id is None) == (match is None):
            raise InvalidArgumentError("delete(): pass an id or match=, not both")
        if match is not None:
            self._send(self._core.call_delete_where(model, match))
            return
        assert id is not None
        self._send(self._core.call_delete(model, id, if_match=if_match))

    def upsert(self, resource: R, *, match: Query[R, Any] | str, validate: bool | None = None) -> R:
        """Create or update by a search (conditional update, ``PUT [type]?criteria``): the one resource
        ``match`` selects is replaced by ``resource``; when none matches ``resource`` is created; when
        several match the server refuses (412). Validated locally first, like :meth:`create`.

        ``clinik.upsert(p, match=clinik.search(Patient).identifier((MRN, "123")))``
        """
        return self._send(self._core.call_upsert(resource, match, validate=validate))

    def resolve(
        self,
        reference: Reference | str,
        model: type[M],
        *,
        container: Resource | None = None,
        within: BundleResponse | None = None,
    ) -> M:
        """Read what ``reference`` points at, typed as ``model``: ``clinik.resolve(obs.subject, Patient)``.

        Relative (``Patient/1``, ``Patient/1/_history/2``) and absolute references on the configured
        base are read; ``#id`` is found in ``container`` (the resource holding it) and ``urn:uuid:``
        in ``within`` (the transaction's response), without a request. A reference to another type
        or to another server is refused locally. On a search page with ``_include``,
        ``page.resolve(ref, Patient)`` reads from the page instead.
        """
        step = self._core.call_resolve(reference, model, container=container, within=within)
        return self._send(step) if isinstance(step, Call) else step

    def history(
        self,
        model: type[R],
        id: str | None = None,
        *,
        count: int | None = None,
        since: str | None = None,
        strict: bool | None = None,
    ) -> Page[R]:
        """The version history of one resource (or of a type), newest first, as a page."""
        return self._send(self._core.call_history(model, id, count=count, since=since, strict=strict))

    def iter_search(self, model: type[R], params: ParamsLike = None) -> Iterator[R]:
        """Every match of a search with raw parameters, following ``next`` links lazily (only on the
        configured origin).

        Deprecated: the one spelling is the builder, ``clinik.search(Patient, params).iter()`` (raw
        ``params`` are accepted there too).
        """
        warnings.warn(
            "iter_search(Model, params) is deprecated: use search(Model, params).iter()",
            DeprecationWarning,
            stacklevel=2,
        )
        for page in self.pages(self._send(self._search_call(model, params))):
            yield from page

    def pages(self, first: Page[R]) -> Iterator[Page[R]]:
        """``first`` and every page after it, fetched one at a time."""
        page: Page[R] | None = first
        while page is not None:
            yield page
            page = self._next_page(page)

    def _execute_search(
        self, model: type[R], params: Sequence[tuple[str, str]], *, post: bool = False, resource_type: str | None = None
    ) -> Page[R]:
        """Run a search built by the query classes (interface 7); ``resource_type`` for R4-only types."""
        return self._send(self._search_call(model, params, post=post, resource_type=resource_type))

    def _search_call(
        self, model: type[R], params: ParamsLike, *, post: bool = False, resource_type: str | None = None
    ) -> Call[Page[R]]:
        call = self._core.call_search(model, params, post=post, resource_type=resource_type)
        if self.check_search_capabilities:
            self._core.check_search_call(self.capabilities(), call)
        return call

    def _next_page(self, page: Page[R]) -> Page[R] | None:
        call = self._core.call_next(page)
        if call is None:
            return None
        return self._send(call)

    @overload
    def operation(
        self,
        name: str,
        *,
        model: type[Resource] | None = None,
        id: str | None = None,
        parameters: Resource | Mapping[str, Any] | None = None,
        params: ParamsLike = None,
        method: Literal["GET", "POST"] = "POST",
        result: type[R],
    ) -> R: ...
    @overload
    def operation(
        self,
        name: str,
        *,
        model: type[Resource] | None = None,
        id: str | None = None,
        parameters: Resource | Mapping[str, Any] | None = None,
        params: ParamsLike = None,
        method: Literal["GET", "POST"] = "POST",
        result: None = None,
    ) -> Resource | None: ...
    def operation(
        self,
        name: str,
        *,
        model: type[Resource] | None = None,
        id: str | None = None,
        parameters: Resource | Mapping[str, Any] | None = None,
        params: ParamsLike = None,
        method: Literal["GET", "POST"] = "POST",
        result: type[R] | None = None,
    ) -> R | Resource | None:
        """Invoke ``$name`` on a type (``model=``) or an instance (``model=`` and ``id=``).

        POST sends ``parameters`` (a ``Parameters`` model or dict); GET sends ``params`` as the query.
        The answer is typed by its resourceType, or checked as ``result`` when given.
        """
        value: R | Resource | None = self._send(
            self._core.call_operation(
                name, model=model, id=id, parameters=parameters, params=params, method=method, result=result
            )
        )
        return value

    def everything(
        self, model: type[Resource], id: str, *, params: ParamsLike = None, strict: bool | None = None
    ) -> Page[Resource]:
        """``$everything`` for a patient (or encounter): every resource in its compartment, as a page."""
        return self._send(self._core.call_everything(model, id, params, strict=strict))

    def validate_on_server(self, resource: Resource) -> OperationOutcome:
        """Ask the server to ``$validate`` ``resource``; its verdict as an OperationOutcome.

        One name per meaning: this is the server's check. The local check is the function
        :func:`clinikfhir.validate` (no request), which every write runs first unless
        ``Clinik(validate=False)`` / ``create(..., validate=False)`` turns it off.
        """
        return self._send(self._core.call_validate(resource))

    def validate(self, resource: Resource) -> OperationOutcome:
        """Deprecated spelling of :meth:`validate_on_server` (``clinikfhir.validate`` is the local check)."""
        warnings.warn(
            "clinik.validate(r) is the server's $validate: call clinik.validate_on_server(r); "
            "clinikfhir.validate(r) is the local check",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._send(self._core.call_validate(resource))

    def capabilities(self, *, refresh: bool = False) -> CapabilityStatement:
        """The server's CapabilityStatement (``/v1/metadata``; the API key is not sent).

        Fetched once and kept; ``refresh=True`` fetches it again.
        """
        if self._capabilities is None or refresh:
            self._capabilities = self._send(self._core.call_capabilities())
        return self._capabilities

    def transaction(
        self,
        tx: Transaction | Sequence[Resource] | Bundle | Mapping[str, Any],
        *,
        validate: bool | None = None,
        prefer_return: PreferReturn | None = None,
    ) -> BundleResponse:
        """Send a transaction (all or nothing). Plain lists of models create those without an id and
        update those with one; use :class:`~clinikfhir.bundle.Transaction` for ``urn:uuid`` references.
        A ready ``Bundle`` of type ``transaction`` (model or dict, e.g. a Synthea file) is sent as it is,
        each entry's resource checked first; ``response.resource(fullUrl, Model)`` finds its entries.

        ``prefer_return="minimal"`` asks the server for entries without their resources (``Prefer:
        return=minimal``; status, location, etag and last-modified only), which bulk loads want; the
        response reads the same whether or not the server honours it (``resource(i, M)`` then raises
        when an entry came back without one). ``"representation"`` asks for the resources,
        ``"OperationOutcome"`` for an outcome per entry; None (the default) sends no preference."""
        return self._send(self._core.call_bundle("transaction", tx, validate=validate, prefer_return=prefer_return))

    def batch(
        self,
        tx: Transaction | Sequence[Resource] | Bundle | Mapping[str, Any],
        *,
        validate: bool | None = None,
        prefer_return: PreferReturn | None = None,
    ) -> BundleResponse:
        """Send a batch (entries succeed or fail independently); ``prefer_return`` as in :meth:`transaction`."""
        return self._send(self._core.call_bundle("batch", tx, validate=validate, prefer_return=prefer_return))

    def request(
        self,
        method: str,
        path: str,
        body: Resource | Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        params: ParamsLike = None,
        validate: bool | None = None,
    ) -> Resource | None:
        """The raw escape hatch (the vendor SDK's ``fhir.request``): ``path`` is under ``/v1/fhir``.

        The answer is still typed by its ``resourceType`` (None for an empty 204). A POST or PUT of a
        resource (model or dict with ``resourceType``) is validated locally first, like
        :meth:`create`/:meth:`update` (``validate=False`` skips that), and goes through the tenant guard.
        """
        return self._send(self._core.call_raw(method, path, body, params, validate=validate))


shown_as_root(Clinik)  # shown as clinikfhir.Clinik, its public name
