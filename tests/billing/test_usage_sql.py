"""The collector's written-out statements (billing/services/usage/_sql.py) read each value as
the ORM reads the model field, and refuse a statement whose columns the fields do not match."""

from datetime import UTC, datetime

import pytest

from billing.models import CollectedHour
from billing.services.usage._sql import column, field, select, table

pytestmark = pytest.mark.django_db

HOUR = datetime(2026, 11, 3, 7, tzinfo=UTC)


def test_values_read_as_the_orm_reads_the_fields():
    CollectedHour.objects.create(hour=HOUR, collected_at=HOUR, digest="abc", rows=4)
    c = CollectedHour
    sql = f"SELECT {column(c, 'pk')}, {column(c, 'hour')}, {column(c, 'rows')} FROM {table(c)}"
    rows = select(sql, [], [field(c, "pk"), field(c, "hour"), field(c, "rows")])
    assert rows == list(CollectedHour.objects.values_list("pk", "hour", "rows"))
    assert rows[0][1] == HOUR and rows[0][1].tzinfo is not None


def test_a_column_without_a_field_comes_as_the_database_gives_it():
    CollectedHour.objects.create(hour=HOUR, collected_at=HOUR)
    assert select(f"SELECT COUNT(*) FROM {table(CollectedHour)}", [], [None]) == [(1,)]


def test_fields_that_do_not_match_the_columns_are_refused():
    with pytest.raises(ValueError, match="2 columns read, 1 fields given"):
        select(
            f"SELECT {column(CollectedHour, 'pk')}, {column(CollectedHour, 'hour')} "
            f"FROM {table(CollectedHour)}",
            [],
            [field(CollectedHour, "pk")],
        )
