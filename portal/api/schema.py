"""drf-spectacular postprocessing hook: the error answers every operation can give, documented
in one place instead of per view (400 invalid input, 401/403 authentication and permission,
404 unknown object, 409 wrong state, 413 body too large, 429 throttled)."""

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
VALIDATION_ERROR = {
    "type": "object",
    "description": "Field name (or `non_field_errors`, `detail`) -> messages.",
    "additionalProperties": {
        "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}, {}]
    },
}

ALWAYS = {
    "400": ("Invalid input or query parameters.", "ValidationError"),
    "401": ("Not authenticated (no or a bad token).", "Error"),
    "403": ("Authenticated, but not allowed to do this.", "Error"),
    "429": ("Too many failed authentications from this address.", "Error"),
}
WITH_PATH_PARAMETER = {"404": ("No such object in your teams.", "Error")}
WRITES = {
    "409": ("The object is not in a state that allows this.", "Error"),
    "413": ("Request body too large.", "Error"),
}


def _response(description: str, component: str) -> dict:
    ref = {"$ref": f"#/components/schemas/{component}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def document_errors(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR)
    schemas.setdefault("ValidationError", VALIDATION_ERROR)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            wanted = dict(ALWAYS)
            if "{" in path:
                wanted.update(WITH_PATH_PARAMETER)
            if method != "get":
                wanted.update(WRITES)
            for status, (description, component) in wanted.items():
                responses.setdefault(status, _response(description, component))
    return result
