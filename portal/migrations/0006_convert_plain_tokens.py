"""Convert DRF's plain tokens (`authtoken_token`, keys in clear) into hashed ApiTokens, then drop
that table so no key stays readable in the database.

Each old key keeps working: its SHA-256 digest is stored, as for new keys (portal.tokens), and
its first 8 characters become the display prefix. `rest_framework.authtoken` is no longer an
installed app, so the old table is read with plain SQL (it is absent on a fresh database).
Running it twice changes nothing. The reverse does nothing: the old keys cannot be restored.
"""

import datetime
import hashlib

from django.db import migrations
from django.utils.dateparse import parse_datetime

LEGACY_TABLE = "authtoken_token"
MIGRATED_NAME = "Migrated token"


def _aware(value):
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is None:
        return datetime.datetime.now(datetime.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value


def convert_plain_tokens(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if LEGACY_TABLE not in connection.introspection.table_names(cursor):
            return
        qn = connection.ops.quote_name
        cursor.execute(
            f"SELECT {qn('key')}, {qn('user_id')}, {qn('created')} FROM {qn(LEGACY_TABLE)}"
        )
        rows = cursor.fetchall()
    # The table goes first: no plaintext key survives this migration, and the DDL runs before
    # the inserts (PostgreSQL refuses DDL on tables with pending constraint checks).
    schema_editor.execute(f"DROP TABLE {qn(LEGACY_TABLE)}")
    ApiToken = apps.get_model("portal", "ApiToken")
    for key, user_id, created in rows:
        ApiToken.objects.get_or_create(
            digest=hashlib.sha256(key.encode()).hexdigest(),
            defaults={
                "user_id": user_id,
                "name": MIGRATED_NAME,
                "prefix": key[:8],
                "created_at": _aware(created),
            },
        )


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0005_api_token"),
    ]

    operations = [
        migrations.RunPython(convert_plain_tokens, migrations.RunPython.noop, elidable=False),
    ]
