"""State only: the models now live in the catalog app (catalog/migrations/0001_initial.py
renamed the tables; the foreign keys in the database already point at them)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0003_billingpolicy_referenceprice_chargeback_budgetalert_and_more'),
        ('catalog', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
        migrations.DeleteModel(
            name='GpuRate',
        ),
    ])
    ]
