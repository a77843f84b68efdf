"""The resolver factory: Powertools' REST resolver with the API's strict request validation, money written with
all of its digits, and the one error table as its exception handler."""

from __future__ import annotations

import secrets
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError

from session_service.http.answers import error_response
from session_service.http.params import IdPath
from session_service.models import EXACT_NUMBERS, exact_json, load_json
from session_service.powertools_private import (
    RequestValidation,
    ResponseValidation,
    declared_query_names,
    install_validation,
    invalid_path_params,
)

JSON_MEDIA_TYPE = "application/json"


def make_resolver() -> APIGatewayRestResolver:
    """A REST API resolver with request validation and :func:`~session_service.http.answers.error_response` as its
    one exception handler.

    Powertools looks exception handlers up along the MRO, so the handler registered for ``Exception``
    also answers unknown routes (``NotFoundError``) and request validation. A response that breaks its
    own model is a 500 (``response_validation_error_http_code``): our bug, not a client error.
    """
    app = APIGatewayRestResolver(
        enable_validation=True, response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR
    )
    install_validation(app, _StrictRequestValidation(), _ExactNumbersResponse)
    app.exception_handler(Exception)(error_response)
    return app


class _StrictRequestValidation(RequestValidation):
    """Powertools' request validation, stricter where the API needs it (SPEC section 4).

    * A query parameter the route does not declare is 422 (:func:`_refuse_unknown_query_parameters`).
    * An :class:`~session_service.http.params.IdPath` parameter that is not a valid id answers as a missing
      resource (404).
    * The body is JSON (``application/json``, any case, any parameters; else 415), read by
      :func:`~session_service.models.load_json`: a duplicate key, ``NaN``, an integer beyond 4,300 digits or
      nesting deeper than the interpreter's stack is 422, never a 500 (Powertools catches only
      ``JSONDecodeError``), and decimals stay exact.
    * The body is a JSON object: Powertools would validate the first element of a JSON array against the
      body model (it unwraps lists for non-list fields), so ``[{...}, {...}]`` would create one thing and
      ignore the rest. An empty body is no body: 422 where the route requires one, its default where the
      body is optional (pop's ``{"count": n}``).
    """

    def check(self, app: Any, route: Any, path_values: dict[str, Any]) -> None:
        _refuse_unknown_query_parameters(route, app.current_event.resolved_query_string_parameters or {})
        _raise_not_found_for_invalid_ids(route, path_values)

    def read_body(self, app: Any) -> dict[str, Any] | None:
        content_type = app.current_event.headers.get("content-type") or ""
        media_type = content_type.split(";", 1)[0].strip().lower()  # RFC 9110 8.3.1: case-insensitive
        if media_type not in ("", JSON_MEDIA_TYPE):
            raise RequestUnsupportedContentType(
                "Unsupported content type",
                errors=[
                    {
                        "type": "unsupported_content_type",
                        "loc": ("header", "content-type"),
                        "msg": f"Unsupported content type: {content_type[:100]}; send {JSON_MEDIA_TYPE}",
                    }
                ],
            )
        return self.read_json(app)

    def read_json(self, app: Any) -> dict[str, Any] | None:
        try:
            text = app.current_event.decoded_body
            body = load_json(text) if text else None
        except UnicodeDecodeError as exc:
            raise _body_error("json_invalid", "Body is not UTF-8 JSON") from exc
        except RecursionError as exc:
            raise _body_error("json_invalid", "JSON nested too deeply") from exc
        except ValueError as exc:  # JSONDecodeError, a duplicate key, NaN, an integer over 4,300 digits
            raise _body_error("json_invalid", f"Invalid JSON: {str(exc)[:200]}") from exc
        if body is None and not text:
            return None  # Powertools: "missing" for a required body, the default of an optional one
        if not isinstance(body, dict):
            raise _body_error("model_attributes_type", "Input should be a JSON object")
        return body


def _body_error(kind: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": ("body",), "msg": message, "input": {}}])


def _refuse_unknown_query_parameters(route: Any, received: dict[str, Any]) -> None:
    """Raise a 422 ``RequestValidationError`` naming each query parameter ``route`` does not declare.

    The declared names come from the route's own signature (a pydantic model parameter declares its
    fields), so a parameter added to a handler is accepted without touching this function.
    """
    unknown = sorted(set(received) - declared_query_names(route))
    if unknown:
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": "Unknown query parameter", "input": {}}
                for name in unknown
            ]
        )


def _raise_not_found_for_invalid_ids(route: Any, path_values: dict[str, Any]) -> None:
    """Raise the ``not_found`` error of the first :class:`~session_service.http.params.IdPath` parameter whose
    value is not a valid id."""
    for info in invalid_path_params(route, path_values, IdPath):
        raise info.not_found()


class _ExactNumbersResponse(ResponseValidation):
    """Powertools' response validation, writing money with all of its digits as a JSON number.

    A double holds 15-17 significant digits; a cost has up to 12 decimals below 10^6 and a total more
    (SPEC section 3). :data:`~session_service.models.Money` serialises a value that a double cannot hold
    as ``{<nonce>: "<digits>"}`` when the serialization context carries this response's random nonce; the
    JSON text is then written here with each such marker replaced by the bare digits. The nonce is fresh
    per response, so no client text can forge a marker.
    """

    def context(self) -> dict[str, Any]:
        return {EXACT_NUMBERS: secrets.token_hex(16)}

    def finish(self, body: Any, context: dict[str, Any]) -> Any:
        return exact_json(body, context[EXACT_NUMBERS])
