"""What session_service.powertools_private relies on in Powertools' private API still holds.

Each touch point has a check of its shape (the attribute exists and is what we replace, the method takes the
parameters we pass: ``inspect.signature``) and one of its behaviour (a request runs through it). A Powertools
upgrade that renames, re-signs or stops calling one of them fails here, not in production.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Annotated, Any
from unittest.mock import MagicMock

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
    OpenAPIResponseValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.compat import ModelField
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyItemNotFoundError
from pydantic import BaseModel, Field, FieldSerializationInfo, TypeAdapter, field_serializer

from devserver.lambda_runtime import LambdaContext, rest_event
from session_service.powertools_private import (
    RequestValidation,
    ResponseValidation,
    declared_query_names,
    install_validation,
    invalid_path_params,
    partitioned_persistence_layer,
)


def parameters(function: Callable[..., Any]) -> dict[str, inspect._ParameterKind]:
    return {name: p.kind for name, p in inspect.signature(function).parameters.items()}


POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
KEYWORD = inspect.Parameter.KEYWORD_ONLY


class Body(BaseModel):
    name: str


class Reply(BaseModel):
    name: str
    seen: str = ""

    @field_serializer("seen")
    def _context(self, value: str, info: FieldSerializationInfo) -> str:
        return str((info.context or {}).get("mark", value))


class Filters(BaseModel):
    colour: str | None = Field(default=None, alias="color")
    size: int | None = None


class Recording(RequestValidation):
    """Records what Powertools hands the hooks."""

    def __init__(self) -> None:
        super().__init__()
        self.checked: list[tuple[Any, dict[str, Any]]] = []
        self.read: list[str] = []

    def check(self, app: Any, route: Any, path_values: dict[str, Any]) -> None:
        self.checked.append((route, dict(path_values)))

    def read_json(self, app: Any) -> dict[str, Any]:
        self.read.append("json")
        return super().read_json(app)


class Marking(ResponseValidation):
    def context(self) -> dict[str, Any]:
        return {"mark": "from-context"}

    def finish(self, body: Any, context: dict[str, Any]) -> Any:
        return {**body, "finished": context["mark"]}


class SpecialPath(Path):  # type: ignore[misc]
    """A kind of path parameter, as session_service.http.params.IdPath is."""


class IdleKind(Path):  # type: ignore[misc]
    """A kind no parameter is declared with."""


def resolver() -> tuple[APIGatewayRestResolver, Recording]:
    app = APIGatewayRestResolver(enable_validation=True, response_validation_error_http_code=500)
    request = Recording()
    install_validation(app, request, Marking)

    @app.post("/things/<thing_id>")
    def post_thing(
        thing_id: Annotated[str, SpecialPath(pattern="^[a-z]+$")],
        body: Body,
        limit: Annotated[int | None, Query()] = None,
    ) -> Reply:
        return Reply(name=f"{thing_id}:{body.name}")

    @app.get("/broken")
    def broken() -> Reply:
        return {"nothing": "of a reply"}  # type: ignore[return-value]

    @app.get("/text")
    def text() -> Response[str]:
        return Response(status_code=200, content_type="application/x-ndjson", body='{"a": 1}\n')

    @app.get("/filtered")
    def filtered(filters: Annotated[Filters, Query()]) -> dict[str, Any]:
        return {}

    return app, request


def call(app: APIGatewayRestResolver, method: str, path: str, resource: str, **options: Any) -> tuple[int, str]:
    response = app.resolve(rest_event(method, path, resource=resource, **options), LambdaContext())
    return int(response["statusCode"]), response["body"]


# -- the resolver's validation middlewares ----------------------------------------------------------------------


def test_the_resolver_keeps_its_validation_middlewares_where_we_replace_them() -> None:
    app = APIGatewayRestResolver(enable_validation=True, response_validation_error_http_code=500)
    assert type(app._request_validation_middleware) is OpenAPIRequestValidationMiddleware
    assert type(app._response_validation_middleware) is OpenAPIResponseValidationMiddleware
    assert app._has_response_validation_error is True
    assert APIGatewayRestResolver(enable_validation=True)._has_response_validation_error is False
    assert parameters(OpenAPIRequestValidationMiddleware.__init__) == {"self": POSITIONAL}
    assert "has_response_validation_error" in parameters(OpenAPIResponseValidationMiddleware.__init__)


def test_a_request_runs_through_the_middlewares_installed() -> None:
    app, request = resolver()
    status, body = call(
        app, "POST", "/things/abc", "/things/{thing_id}", path_parameters={"thing_id": "abc"}, body='{"name": "n"}'
    )
    assert (status, json.loads(body)) == (200, {"name": "abc:n", "seen": "from-context", "finished": "from-context"})
    (route, path_values), *_ = request.checked
    assert route.path == "/things/<thing_id>"
    assert path_values == {"thing_id": "abc"}  # as received, before Powertools validates it


def test_the_response_middleware_is_built_with_the_resolvers_response_validation_code() -> None:
    app, _ = resolver()
    assert call(app, "GET", "/broken", "/broken")[0] == 500  # 422 were it built without it


# -- the matched route and its declared parameters --------------------------------------------------------------


def test_the_route_in_the_context_declares_its_query_and_path_parameters() -> None:
    app, request = resolver()
    call(app, "POST", "/things/ABC", "/things/{thing_id}", path_parameters={"thing_id": "ABC"}, body='{"name": "n"}')
    call(app, "GET", "/filtered", "/filtered")
    (things, raw), (filtered, _) = request.checked
    assert declared_query_names(things) == {"limit"}
    assert declared_query_names(filtered) == {"color", "size"}  # a model's fields, by alias
    refused = list(invalid_path_params(things, raw, SpecialPath))
    assert len(refused) == 1
    assert isinstance(refused[0], SpecialPath)
    assert list(invalid_path_params(things, {"thing_id": "abc"}, SpecialPath)) == []
    assert list(invalid_path_params(things, raw, IdleKind)) == []


# -- how a body is read -----------------------------------------------------------------------------------------


def test_the_body_hooks_have_the_signatures_we_override() -> None:
    assert parameters(OpenAPIRequestValidationMiddleware.handler) == {
        "self": POSITIONAL,
        "app": POSITIONAL,
        "next_middleware": POSITIONAL,
    }
    assert parameters(OpenAPIRequestValidationMiddleware._get_body) == {"self": POSITIONAL, "app": POSITIONAL}
    assert parameters(OpenAPIRequestValidationMiddleware._parse_json_data) == {"self": POSITIONAL, "app": POSITIONAL}


def test_powertools_reads_a_json_body_through_parse_json_data() -> None:
    app, request = resolver()
    status, _ = call(
        app,
        "POST",
        "/things/abc",
        "/things/{thing_id}",
        path_parameters={"thing_id": "abc"},
        body='{"name": "n"}',
        headers={"Content-Type": "application/json"},
    )
    assert status == 200
    assert request.read == ["json"]  # read_body's default (Powertools' _get_body) called _parse_json_data


def test_a_route_with_a_body_is_read_through_get_body() -> None:
    app = APIGatewayRestResolver(enable_validation=True)

    class Replaced(RequestValidation):
        def read_body(self, app: Any) -> dict[str, Any]:
            return {"name": "from read_body"}

    install_validation(app, Replaced(), ResponseValidation)

    @app.post("/things")
    def post(body: Body) -> dict[str, str]:
        return {"name": body.name}

    assert call(app, "POST", "/things", "/things", body="not JSON at all") == (200, '{"name":"from read_body"}')


# -- how a response body is validated and written ---------------------------------------------------------------


def test_the_response_hooks_have_the_signatures_we_override() -> None:
    assert parameters(OpenAPIResponseValidationMiddleware._handle_response) == {
        "self": POSITIONAL,
        "route": KEYWORD,
        "response": KEYWORD,
    }
    serialize = parameters(OpenAPIResponseValidationMiddleware._serialize_response_with_validation)
    assert serialize["field"] == serialize["response_content"] == KEYWORD
    # What _handle_response passes on, which ours forwards as **options:
    assert serialize["has_route_custom_response_validation"] == KEYWORD


def test_a_model_field_serializes_through_its_type_adapter() -> None:
    from pydantic.fields import FieldInfo

    field = ModelField(field_info=FieldInfo(annotation=Reply), name="return", mode="serialization")
    assert isinstance(field._type_adapter, TypeAdapter)
    assert {"mode", "include", "exclude", "by_alias", "exclude_unset", "exclude_defaults", "exclude_none"} <= set(
        parameters(ModelField.serialize)
    )
    value = Reply(name="n")
    assert field._type_adapter.dump_python(value, mode="json", context={"mark": "m"})["seen"] == "m"


def test_a_body_that_is_not_json_passes_as_the_route_made_it() -> None:
    app, _ = resolver()
    assert call(app, "GET", "/text", "/text") == (200, '{"a": 1}\n')


# -- the idempotency records' key -------------------------------------------------------------------------------


def test_the_persistence_layer_keys_every_record_with_get_key() -> None:
    assert parameters(DynamoDBPersistenceLayer._get_key) == {"self": POSITIONAL, "idempotency_key": POSITIONAL}
    partition = ["IDEMPOTENCY#alice"]
    client = MagicMock()
    client.get_item.return_value = {}
    store = partitioned_persistence_layer(
        lambda: partition[0], table_name="t", key_attr="PK", sort_key_attr="SK", boto3_client=client
    )
    assert isinstance(store, DynamoDBPersistenceLayer)
    store.configure(IdempotencyConfig(event_key_jmespath="key"), function_name="fn")
    store.save_inprogress(data={"key": "k"}, remaining_time_in_millis=10_000)
    partition[0] = "IDEMPOTENCY#bob"
    store.delete_record(data={"key": "k"}, exception=ValueError())
    with pytest.raises(IdempotencyItemNotFoundError):
        store.get_record(data={"key": "k"})
    put = client.put_item.call_args.kwargs["Item"]
    deleted = client.delete_item.call_args.kwargs["Key"]
    read = client.get_item.call_args.kwargs["Key"]
    assert put["PK"] == {"S": "IDEMPOTENCY#alice"}
    assert deleted["PK"] == read["PK"] == {"S": "IDEMPOTENCY#bob"}
    assert put["SK"] == deleted["SK"] == read["SK"]
    assert put["SK"]["S"].split("#")[0].endswith("fn")  # Powertools' own sort key: <function>#<hash>
