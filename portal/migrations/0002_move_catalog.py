"""State only: the models now live in the catalog app (catalog/migrations/0001_initial.py
renamed the tables; the foreign keys in the database already point at them)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0001_initial'),
        ('portal', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
        migrations.AlterField(
            model_name='team',
            name='approval_gpu_types',
            field=models.ManyToManyField(blank=True, help_text='Requests for these GPU types always need approval.', related_name='+', to='catalog.gputype'),
        ),
        migrations.AlterField(
            model_name='teamgpuquota',
            name='gpu_type',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='catalog.gputype'),
        ),
    ])
    ]
