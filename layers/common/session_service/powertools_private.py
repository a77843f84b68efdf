"""Every use of Powertools' private API, in one place (Powertools for AWS Lambda (Python) 3.37).

Powertools offers no public hook for what the API needs at these points, so the service reaches into it
here, and only here. ``tests/unit/test_powertools_private.py`` checks each point (the attribute exists and is
what we replace, the method takes the parameters we pass, a request runs through it) and fails on an upgrade
that changes one; read this module again before raising the pinned version.

Each private name the service relies on, and where:

* ``APIGatewayRestResolver._request_validation_middleware`` and ``._response_validation_middleware``: the
  validation middlewares a resolver runs, replaced by ours; ``._has_response_validation_error``: read to build
  ours as Powertools builds its own (:func:`install_validation`);
* the resolver's ``context["_route"]`` and ``context["_route_args"]`` (the matched route, its path values as
  received) and ``Route.dependant`` with its ``ModelField`` objects (internal classes: the route's declared
  parameters) (:meth:`RequestValidation.check`, :func:`declared_query_names`, :func:`invalid_path_params`);
* ``OpenAPIRequestValidationMiddleware._get_body`` and ``._parse_json_data``: how a body is read
  (:meth:`RequestValidation.read_body`, :meth:`~RequestValidation.read_json`);
* ``OpenAPIResponseValidationMiddleware._handle_response`` and ``._serialize_response_with_validation``, and
  ``ModelField._type_adapter``: how a response body is validated and written (:class:`ResponseValidation`);
* ``DynamoDBPersistenceLayer._get_key``: the key of an idempotency record (:func:`partitioned_persistence_layer`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
    OpenAPIResponseValidationMiddleware,
)
from pydantic import BaseModel

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer

P = TypeVar("P")


# -- the resolver's validation middlewares -------------------------------------------------------------------


def install_validation(
    app: APIGatewayRestResolver,
    request: OpenAPIRequestValidationMiddleware,
    response: Callable[..., OpenAPIResponseValidationMiddleware],
) -> None:
    """Make ``app`` (built with ``enable_validation=True``) validate requests with ``request`` and responses
    with a ``response(has_response_validation_error=...)`` built as Powertools builds its own (so
    ``response_validation_error_http_code`` keeps its meaning)."""
    app._request_validation_middleware = request
    app._response_validation_middleware = response(has_response_validation_error=app._has_response_validation_error)


# -- request validation -------------------------------------------------------------------------------------


class RequestValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, opened where the API is stricter: :meth:`check` runs before it, and a
    route's body is read by :meth:`read_body` (by default Powertools' own reading)."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Powertools' __init__ is untyped

    def check(self, app: Any, route: Any, path_values: dict[str, Any]) -> None:
        """Run before Powertools validates the request: ``route`` is the matched route, ``path_values`` its path
        parameters as received (strings, not yet validated). Raise to answer with an error; nothing by default."""

    def read_body(self, app: Any) -> dict[str, Any] | None:
        """The body of a route that declares one, as the data to validate against its model (``None``: none)."""
        return super()._get_body(app)

    def read_json(self, app: Any) -> dict[str, Any] | None:
        """A JSON body (what :meth:`read_body` reads by default for ``application/json``)."""
        return super()._parse_json_data(app)

    def handler(self, app: Any, next_middleware: Any) -> Any:
        self.check(app, app.context["_route"], app.context.get("_route_args") or {})
        return super().handler(app, next_middleware)

    def _get_body(self, app: Any) -> dict[str, Any] | None:  # type: ignore[override]  # Powertools takes None
        return self.read_body(app)

    def _parse_json_data(self, app: Any) -> dict[str, Any] | None:  # type: ignore[override]
        return self.read_json(app)


def declared_query_names(route: Any) -> set[str]:
    """The query parameters ``route`` declares, by the names a request uses (a pydantic model parameter
    declares each of its fields)."""
    declared: set[str] = set()
    for field in route.dependant.query_params:
        annotation = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            declared.update(info.alias or name for name, info in annotation.model_fields.items())
        else:
            declared.add(field.alias)
    return declared


def invalid_path_params(route: Any, path_values: dict[str, Any], kind: type[P]) -> Iterator[P]:
    """The ``Path(...)`` of each path parameter of ``route`` declared with a ``kind`` whose value in
    ``path_values`` (as received) it refuses, in declaration order."""
    for field in route.dependant.path_params:
        info = field.field_info
        if isinstance(info, kind):
            _, errors = field.validate(path_values.get(field.alias), loc=("path", field.alias))
            if errors:
                yield info


# -- response validation --------------------------------------------------------------------------------------


class ResponseValidation(OpenAPIResponseValidationMiddleware):
    """Powertools' response validation: a body that is not JSON (the export's NDJSON text) is the route's own,
    already serialized, and passes as it is; a JSON body is validated against the route's return model and
    serialized with the pydantic serialization context of :meth:`context`, then :meth:`finish` writes it."""

    def context(self) -> dict[str, Any]:
        """The serialization context of one response's body (called once per response)."""
        return {}

    def finish(self, body: Any, context: dict[str, Any]) -> Any:
        """The response's body from its serialized ``body`` (JSON data) and the ``context`` it was serialized with."""
        return body

    def _handle_response(self, *, route: Any, response: Response[Any]) -> Any:
        return response if not response.is_json() else super()._handle_response(route=route, response=response)

    def _serialize_response_with_validation(self, *, field: Any, response_content: Any, **options: Any) -> Any:
        context = self.context()
        marking: Any = _ContextField(field, context)
        body = super()._serialize_response_with_validation(field=marking, response_content=response_content, **options)
        return self.finish(body, context)


class _ContextField:
    """A Powertools ``ModelField`` whose ``serialize`` passes a pydantic serialization context (Powertools'
    own passes none)."""

    def __init__(self, field: Any, context: dict[str, Any]) -> None:
        self._field, self._context = field, context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._field, name)

    def serialize(self, value: Any, *, mode: str = "json", **options: Any) -> Any:
        return self._field._type_adapter.dump_python(value, mode=mode, context=self._context, **options)


# -- the idempotency records' key -----------------------------------------------------------------------------


def partitioned_persistence_layer(partition: Callable[[], str], **options: Any) -> BasePersistenceLayer:
    """Powertools' ``DynamoDBPersistenceLayer(**options)`` (with ``sort_key_attr``) whose records sit in the
    partition ``partition()`` names when each is read or written, instead of its one static partition.
    Imports the idempotency utility (call it on the first keyed request only)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    class PartitionedPersistenceLayer(DynamoDBPersistenceLayer):
        def _get_key(self, idempotency_key: str) -> dict[str, Any]:
            return {self.key_attr: {"S": partition()}, str(self.sort_key_attr): {"S": idempotency_key}}

    return PartitionedPersistenceLayer(**options)
