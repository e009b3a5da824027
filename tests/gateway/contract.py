"""Checks every gateway response the tests receive against openapi.yaml: the operation
must be documented, its status documented (or covered by `default`), and a JSON body must
match the documented schema (JSON Schema 2020-12, which OpenAPI 3.1 uses)."""
import json
import pathlib
import re

import jsonschema
import yaml
from referencing import Registry, Resource

SPEC_PATH = pathlib.Path(__file__).resolve().parents[2] / "openapi.yaml"
SPEC = yaml.safe_load(SPEC_PATH.read_text())
from referencing.jsonschema import DRAFT202012  # noqa: E402

_REGISTRY = Registry().with_resource("spec", Resource.from_contents(SPEC, default_specification=DRAFT202012))
_ROUTES = []
for template, operations in SPEC["paths"].items():
    # `{path}` (the CRM proxy) spans segments; other parameters are one segment.
    pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", template.replace("{path}", "<rest>")).replace("<rest>", ".+") + "$"
    _ROUTES.append((re.compile(pattern), template, operations))


def _operation(method, path):
    path = re.sub(r"^/v1/t/[^/]+", "/v1", path.split("?", 1)[0])
    for pattern, template, operations in _ROUTES:
        if pattern.match(path):
            return template, operations.get(method.lower())
    return None, None


def _resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        target = SPEC
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def check(method, path, status, content_type, body):
    """Raises AssertionError when the response breaks the documented contract."""
    if not path.split("?")[0].startswith(("/v1/", "/webhook/", "/healthz")) and "json" not in (content_type or ""):
        return  # the console's static assets, outside the API
    template, operation = _operation(method, path)
    if content_type and content_type.startswith("application/problem+json"):
        if method == "HEAD":
            return  # HEAD carries the headers of the problem but never its body
        schema = {"$ref": "spec#/components/schemas/Problem"}
        jsonschema.Draft202012Validator(schema, registry=_REGISTRY).validate(json.loads(body))
        return
    assert operation is not None, f"{method} {path} answered {status} but is not in openapi.yaml"
    responses = operation["responses"]
    response = responses.get(str(status)) or responses.get("default")
    assert response is not None, f"{method} {template} answered {status}, which openapi.yaml does not list"
    response = _resolve(response)
    media = (content_type or "").split(";")[0].strip()
    documented = response.get("content", {})
    if not documented:
        assert not body, f"{method} {template} {status} should have no body"
        return
    assert media in documented or "*/*" in documented, \
        f"{method} {template} {status} answered {media!r}, documented {list(documented)}"
    schema = documented.get(media, documented.get("*/*")).get("schema")
    if schema is not None and media.endswith("json"):
        rooted = json.loads(json.dumps(schema).replace('"#/', '"spec#/'))
        try:
            jsonschema.Draft202012Validator(rooted, registry=_REGISTRY).validate(json.loads(body))
        except jsonschema.ValidationError as error:
            raise AssertionError(f"{method} {template} {status} does not match openapi.yaml: {error.message} at {list(error.absolute_path)}") from None
