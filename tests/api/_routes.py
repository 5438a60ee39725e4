"""Helpers that read the app's route table, so the tenancy and policy tests cover every route,
including routes added after these tests were written."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount, Route

from terrascan.api.security import policy_action

PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    #: The route as the app serves it (with its router's prefix and dependencies).
    route: Any

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    @property
    def id_params(self) -> list[str]:
        return [p for p in self.params if p == "id" or p.endswith("_id") or p.endswith("Id")]

    @property
    def action(self) -> str | None:
        """The policy action the route enforces, found in its dependency tree."""
        dependant = getattr(self.route, "dependant", None)
        stack = [dependant] if dependant is not None else []
        while stack:
            dependant = stack.pop()
            if (action := policy_action(dependant.call)) is not None:
                return action
            stack.extend(dependant.dependencies)
        return None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _walk(routes: list[Any], prefix: str = "") -> Iterator[Operation]:
    for context in iter_route_contexts(routes):
        original = context.original_route
        if isinstance(original, Mount):
            yield from _walk(list(original.routes), prefix + original.path)
        elif isinstance(original, Route) and context.path is not None:
            for method in sorted((context.methods or set()) - {"HEAD", "OPTIONS"}):
                yield Operation(method, prefix + context.path, context)


def operations(app: FastAPI) -> list[Operation]:
    return list(_walk(list(app.routes)))


def fill_path(path: str, values: dict[str, str]) -> str:
    return PARAM.sub(lambda m: values[m.group(1)], path)


# ----------------------------------------------------------------------------- example bodies


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def example_from_schema(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """The schema's own example if it has one, else a minimal valid-looking instance."""
    schema = _resolve(schema, components)
    for key in ("examples", "example"):
        if key in schema:
            value = schema[key]
            return value[0] if key == "examples" and isinstance(value, list) else value
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, components).get("type") != "null"]
            return example_from_schema(options[0], components)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {
            name: example_from_schema(props[name], components)
            for name in schema.get("required", [])
        }
    if kind == "array":
        return [example_from_schema(schema.get("items", {}), components)] * schema.get(
            "minItems", 0
        )
    if kind == "string":
        formats = {
            "uuid": str(uuid.uuid4()),
            "email": "someone@example.org",
            "date-time": "2024-01-01T00:00:00Z",
            "date": "2024-01-01",
        }
        return formats.get(schema.get("format", ""), "x" * max(1, schema.get("minLength", 1)))
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    return None


def example_body(app: FastAPI, op: Operation) -> Any:
    """An example JSON body for ``op`` from the OpenAPI document, or None when it takes none."""
    spec = app.openapi()
    operation = spec["paths"].get(op.path, {}).get(op.method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    components = spec.get("components", {}).get("schemas", {})
    return example_from_schema(content["application/json"]["schema"], components)
