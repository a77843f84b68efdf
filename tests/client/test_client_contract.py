"""The client's surface and models against the committed OpenAPI document (no server needed)."""

from __future__ import annotations

import inspect
import json
import typing
from decimal import Decimal

import pytest
import session_service_client as client_package
from pydantic import BaseModel
from session_service_client import AsyncSessionServiceClient, SessionServiceClient, models

from devserver.openapi import OPENAPI_FILE

DOCUMENT = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
SCHEMAS = DOCUMENT["components"]["schemas"]
CLIENT_ONLY = {"ExportPage", "NewMessage", "NewSession"}
"""Models of the client's own: a page of the export with its header's cursor, and batch items."""


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(cls).items()
        if not name.startswith("_") and callable(member)
    }


def test_both_clients_have_the_same_surface() -> None:
    synchronous, asynchronous = _public(SessionServiceClient), _public(AsyncSessionServiceClient)
    assert set(synchronous) == set(asynchronous)
    for name, signature in synchronous.items():
        other = asynchronous[name]
        assert list(signature.parameters) == list(other.parameters), name
        assert str(signature.return_annotation).replace("Iterator", "AsyncIterator").replace(
            "ReplyStream", "AsyncReplyStream"
        ).replace("SessionServiceClient", "AsyncSessionServiceClient") == str(other.return_annotation), name


def test_a_method_per_operation() -> None:
    operation_ids = {op["operationId"] for ops in DOCUMENT["paths"].values() for op in ops.values()}
    methods = set(_public(SessionServiceClient))
    assert operation_ids - methods == set()
    iterators = {name for name in methods if name.startswith("iter_")}
    # delete_session is end_session's route with permanent=true
    assert methods - operation_ids - iterators == {"close", "stream_reply", "delete_session"}


MODELS = [
    cls
    for cls in vars(models).values()
    if isinstance(cls, type)
    and issubclass(cls, BaseModel)
    and cls.__module__ == models.__name__
    and not cls.__name__.startswith("_")
    and cls.__name__ not in CLIENT_ONLY
]


@pytest.mark.parametrize("model", MODELS, ids=lambda cls: cls.__name__)
def test_each_model_reads_the_documented_fields(model: type[BaseModel]) -> None:
    schema = SCHEMAS[model.__name__]
    documented = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        target = SCHEMAS[part["$ref"].rsplit("/", 1)[1]] if "$ref" in part else part
        documented.update(target.get("properties", {}))
    fields = {name for name in model.model_fields if name != "etag"}  # the header's, not the body's
    assert fields == set(documented), model.__name__
    for name, prop in documented.items():
        is_money = any(option.get("format") == "decimal" for option in prop.get("anyOf", [prop]))
        annotation = model.model_fields[name].annotation
        assert (annotation is Decimal) == is_money, (model.__name__, name)


def test_every_model_of_the_document_has_its_client_model() -> None:
    answers = {
        name
        for ops in DOCUMENT["paths"].values()
        for op in ops.values()
        for status, response in op["responses"].items()
        if status.startswith("2")
        for media in response.get("content", {}).values()
        for name in [media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]]
        if name
    }
    assert answers - {cls.__name__ for cls in MODELS} == set()
    assert {"ExportedSession", "ExportedMessage", "ExportedMemory"} <= {cls.__name__ for cls in MODELS}
    assert typing.get_args(models.ExportLine)  # the discriminated union of the three


def test_the_package_exports_every_error_class() -> None:
    for name in (
        "NotFound",
        "Conflict",
        "PreconditionFailed",
        "Unprocessable",
        "PayloadTooLarge",
        "ServiceUnavailable",
        "Forbidden",
        "Unauthorized",
        "BadRequest",
        "APIConnectionError",
        "APITimeoutError",
    ):
        assert issubclass(getattr(client_package, name), client_package.SessionServiceError), name
