"""drf-spectacular postprocessing hook, in one place instead of per view:

- the error answers every operation can give (400 invalid input, 401/403 authentication and
  permission, 404 unknown object or a page past the end, 409 wrong state, 413 body too large,
  414 request line too long (gunicorn's HTML page), 429 throttled, 503 database unavailable
  with Retry-After);
- request bodies as JSON, the one format the API documents (the form parsers stay for the
  browsable API);
- OpenAPI links from each POST that creates an object to the operations on that object (its
  `uuid` in the answer is their path parameter), so clients and schemathesis' stateful phase
  can follow them."""

import threading

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView

ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
VALIDATION_ERROR = {
    "type": "object",
    "description": "Field name (or `non_field_errors`, `detail`) -> messages.",
    "additionalProperties": {
        # Messages (a list or one string), or per-field errors of nested objects.
        "anyOf": [{"type": "array"}, {"type": "string"}, {"type": "object"}]
    },
}

ALWAYS = {
    "400": ("Invalid input or query parameters.", "ValidationError"),
    "401": ("Not authenticated (no or a bad token).", "Error"),
    "403": ("Authenticated, but not allowed to do this.", "Error"),
    "429": (
        "Too many failed authentications (this bad token again, or bad tokens from this "
        "address); a valid token is never refused.",
        "Error",
    ),
    "503": (
        "The database is unavailable (locked, read-only or down); retry after the "
        "`Retry-After` header's seconds.",
        "Error",
    ),
}
WITH_PATH_PARAMETER = {"404": ("No such object in your teams.", "Error")}
PAGINATED = {"404": ("No such page (`page` past the last one, or not a page number).", "Error")}
# Answered by gunicorn before the portal sees the request (request line past 4094 bytes).
URI_TOO_LONG = {
    "description": "Request line too long (the web server's limit, 4094 bytes).",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
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
            if any(p.get("name") == "page" for p in operation.get("parameters", [])):
                wanted.update(PAGINATED)
            if method != "get":
                wanted.update(WRITES)
            for status, (description, component) in wanted.items():
                responses.setdefault(status, _response(description, component))
            responses.setdefault("414", URI_TOO_LONG)
            for status, response in responses.items():
                if status.startswith("4") and "content" not in response:
                    # A view that documents only why (e.g. 404 "not one of yours"): the body is
                    # the API's error object like everywhere else.
                    component = "ValidationError" if status == "400" else "Error"
                    response.update(_response(response.get("description", ""), component))
            _errors_in_every_media_type(responses)
            _json_body_only(operation)
    _link_created_objects(result.get("paths", {}))
    return result


def _errors_in_every_media_type(responses: dict) -> None:
    """An operation that also answers another media type (`?format=yaml`) renders its errors in
    that type too (the negotiated renderer): the same error object, documented for each."""
    others = [
        media
        for status, response in responses.items()
        if status.startswith("2")
        for media in response.get("content", {})
        if media != "application/json"
    ]
    for status, response in responses.items():
        json_body = response.get("content", {}).get("application/json")
        if status.startswith(("4", "5")) and json_body is not None:
            for media in others:
                response["content"].setdefault(media, json_body)


def _json_body_only(operation: dict) -> None:
    content = operation.get("requestBody", {}).get("content")
    if content and "application/json" in content:
        operation["requestBody"]["content"] = {"application/json": content["application/json"]}


# Other collections whose objects a POST creates too: a new endpoint is in the approvals inbox.
ALSO_LINKED = {"/api/v1/endpoints/": ("/api/v1/approvals/",)}


def _link_created_objects(paths: dict) -> None:
    """POST /x/ answering an object with a `uuid` links to every operation on /x/{uuid}/..."""
    for path, operations in paths.items():
        create = operations.get("post")
        if "{" in path or create is None:
            continue
        links = {}
        for collection in (path, *ALSO_LINKED.get(path, ())):
            links.update(_links_to(paths, collection, prefix=collection != path))
        for status, response in create.get("responses", {}).items():
            if status.startswith("2") and links:
                response["links"] = links


def _links_to(paths: dict, collection: str, prefix: bool) -> dict:
    start = f"{collection}{{uuid}}/"
    label = collection.strip("/").rsplit("/", 1)[-1] + "_" if prefix else ""
    return {
        f"{method}_{label}{target[len(start) :].rstrip('/').replace('/', '_') or 'object'}": {
            "operationId": operation["operationId"],
            "parameters": {"uuid": "$response.body#/uuid"},
            "description": f"{method.upper()} {target} of the object just created.",
        }
        for target, target_operations in paths.items()
        if target.startswith(start)
        for method, operation in target_operations.items()
        if method in {"get", "post", "put", "patch", "delete"} and "operationId" in operation
    }


class SchemaView(SpectacularAPIView):
    """/api/schema/, one generation at a time. drf-spectacular resolves its extensions' target
    classes lazily and not thread-safely: two first requests at once in a gthread worker made
    one answer 500 (AttributeError in plumbing._load_class; found by schemathesis)."""

    lock = threading.Lock()

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        with self.lock:
            return super().get(request, *args, **kwargs)
