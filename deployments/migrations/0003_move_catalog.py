"""State only: the models now live in the catalog app (catalog/migrations/0001_initial.py
renamed the tables; the foreign keys in the database already point at them)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0004_move_catalog'),
        ('catalog', '0001_initial'),
        ('deployments', '0002_initial'),
        ('portal', '0002_move_catalog'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
        migrations.AlterField(
            model_name='endpoint',
            name='model',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='endpoints', to='catalog.catalogmodel'),
        ),
        migrations.RemoveField(
            model_name='instanceoffering',
            name='gpu_type',
        ),
        migrations.AlterField(
            model_name='endpoint',
            name='gpu_type',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='endpoints', to='catalog.gputype'),
        ),
        migrations.AlterField(
            model_name='endpoint',
            name='offering',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.instanceoffering'),
        ),
        migrations.DeleteModel(
            name='CatalogModel',
        ),
        migrations.DeleteModel(
            name='GpuType',
        ),
        migrations.DeleteModel(
            name='InstanceOffering',
        ),
    ])
    ]
