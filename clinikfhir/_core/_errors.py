"""Reading answers: a response body as JSON, and an error status as the typed :class:`ApiError`."""

from __future__ import annotations

from typing import Any, cast

import httpx
import orjson

from clinikfhir._meta import ResponseMeta
from clinikfhir.errors import ApiError, ErrorIssue, InvalidResponseError, RateLimitError, error_class, redact


def decode_body(response: httpx.Response, meta: ResponseMeta) -> Any:
    """The response body as JSON (decimals exact); an empty or broken body is :class:`InvalidResponseError`."""
    content = response.content
    if not content.strip():
        raise InvalidResponseError(
            f"empty response body (HTTP {meta.status})", status=meta.status, request_id=meta.request_id
        )
    from clinikfhir.models import JSONDecodeFailure, decode

    try:
        return decode(content)  # exact: a decimal keeps its digits (1.50 stays 1.50)
    except (JSONDecodeFailure, orjson.JSONDecodeError, ValueError, RecursionError):
        raise InvalidResponseError(
            f"the response body is not valid JSON (HTTP {meta.status}; truncated or not JSON)",
            status=meta.status,
            request_id=meta.request_id,
        ) from None


def _issues(body: dict[str, Any]) -> list[ErrorIssue]:
    raw = body.get("issues")
    if not isinstance(raw, list) or not raw:
        raw = body.get("issue")
    if not isinstance(raw, list):
        return []
    out: list[ErrorIssue] = []
    for item in cast("list[object]", raw):
        if not isinstance(item, dict):
            continue
        i = cast("dict[str, Any]", item)
        expr: object = i.get("expression") or i.get("location") or []
        diag = i.get("diagnostics")
        if not isinstance(diag, str):
            details = i.get("details")
            diag = cast("dict[str, Any]", details).get("text", "") if isinstance(details, dict) else ""
        out.append(
            ErrorIssue(
                severity=str(i.get("severity", "error")),
                code=str(i.get("code", "")),
                diagnostics=redact(str(diag)),
                expression=tuple(str(e) for e in cast("list[object]", expr)) if isinstance(expr, list) else (),
            )
        )
    return out


def error_from_response(response: httpx.Response, meta: ResponseMeta) -> ApiError:
    """The typed error for an error status; works on any body, including HTML or truncated ones."""
    status = response.status_code
    body: dict[str, Any] = {}
    try:
        decoded = orjson.loads(response.content) if response.content else None
        if isinstance(decoded, dict):
            body = cast("dict[str, Any]", decoded)
    except orjson.JSONDecodeError:
        pass
    raw_code = body.get("code")
    code = raw_code if isinstance(raw_code, str) else ""
    issues = _issues(body)
    message = body.get("message") or body.get("error")
    if not isinstance(message, str) or not message:
        message = issues[0].diagnostics if issues else f"HTTP {status} {response.reason_phrase}".strip()
    request_id = meta.request_id or (body.get("requestId") if isinstance(body.get("requestId"), str) else "") or ""
    kwargs: dict[str, Any] = {"status": status, "code": code, "request_id": request_id, "issues": issues, "meta": meta}
    cls = error_class(status, code)
    if issubclass(cls, RateLimitError):
        return cls(message, retry_after=meta.retry_after, **kwargs)
    return cls(message, **kwargs)
