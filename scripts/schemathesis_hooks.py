"""schemathesis hooks for scripts/fuzz.sh (loaded through SCHEMATHESIS_HOOKS).

`GET …/manifests/?format=yaml` answers a multi-document YAML stream (`---` between the
Kubernetes objects, as kubectl reads it), documented as the string it is; schemathesis' own YAML
reader expects one document and reports the stream as undeserializable. A stream is checked as
its text, a single document (an error object, a 404 in YAML) as the object."""

import schemathesis
import yaml
from schemathesis.core import media_types


# every YAML media type: the built-in reader is registered under each, first match wins
@schemathesis.deserializer(*media_types.YAML_MEDIA_TYPES)
def yaml_stream(ctx, response):
    text = response.content.decode(response.encoding or "utf-8")
    documents = list(yaml.safe_load_all(text))
    return documents[0] if len(documents) == 1 else text
