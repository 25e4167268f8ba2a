"""The OpenAPI schema's token scheme says how tokens work here (portal.api.auth.TokenScheme)."""

from drf_spectacular.generators import SchemaGenerator


def test_token_scheme_describes_hashed_tokens_shown_once(db):
    scheme = SchemaGenerator().get_schema(request=None, public=True)["components"][
        "securitySchemes"
    ]["tokenAuth"]
    assert scheme["type"] == "apiKey" and scheme["name"] == "Authorization"
    assert "shown once" in scheme["description"] and "401" in scheme["description"]
