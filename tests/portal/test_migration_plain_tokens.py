"""portal.0006: DRF's plain `authtoken_token` rows become hashed ApiTokens, the old key keeps
working for the API, and the table with the keys in clear is gone. Run through Django's
MigrationExecutor from the state before the migration, against the test database."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from portal.models import ApiToken
from tests.factories import UserFactory

BEFORE = [("portal", "0005_api_token")]
AFTER = [("portal", "0006_convert_plain_tokens")]
OLD_KEY = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # DRF's format: 40 hex characters


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _legacy_table(user_id: int, key: str, created: datetime) -> None:
    """The table DRF's authtoken app created (key, created, user_id), with one row."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {qn('authtoken_token')} ({qn('key')} varchar(40) PRIMARY KEY, "
            f"{qn('created')} timestamp NOT NULL, {qn('user_id')} bigint NOT NULL UNIQUE "
            f"REFERENCES {qn('portal_user')} ({qn('id')}))"
        )
        cursor.execute(
            f"INSERT INTO {qn('authtoken_token')} VALUES (%s, %s, %s)",
            [key, connection.ops.adapt_datetimefield_value(created), user_id],
        )


def _tables() -> list[str]:
    with connection.cursor() as cursor:
        return connection.introspection.table_names(cursor)


@pytest.fixture
def before_conversion(transactional_db):
    _migrate(BEFORE)
    yield
    if "authtoken_token" in _tables():  # a failed run: leave the database as it was
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE authtoken_token")
    _migrate(AFTER)


def test_old_plain_key_is_hashed_keeps_working_and_the_plain_table_is_dropped(
    before_conversion, team
):
    user = UserFactory(username="ci-bot")
    team.memberships.create(user=user, role="member")
    created = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    _legacy_table(user.pk, OLD_KEY, created)

    _migrate(AFTER)

    assert "authtoken_token" not in _tables()
    token = ApiToken.objects.get(user=user)
    assert token.name == "Migrated token"
    assert token.prefix == OLD_KEY[:8]
    assert token.digest != OLD_KEY and OLD_KEY not in token.digest
    assert token.created_at == created
    assert token.expires_at is None and token.revoked_at is None
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {OLD_KEY}")
    assert api.get("/api/v1/teams/").json()["results"][0]["slug"] == team.slug


def test_fresh_database_without_the_old_table_migrates(before_conversion):
    assert "authtoken_token" not in _tables()
    _migrate(AFTER)
    assert not ApiToken.objects.exists()
