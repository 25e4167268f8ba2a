"""The catalog moves out of deployments (CatalogModel, GpuType, InstanceOffering) and billing
(GpuRate) without losing a row: the tables are renamed, the models are created in the state
only, and their content types (admin permissions, admin log) follow them."""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
import uuid
from decimal import Decimal
from django.db import migrations, models


MOVED = [
    ("deployments", "catalogmodel"),
    ("deployments", "gputype"),
    ("deployments", "instanceoffering"),
    ("billing", "gpurate"),
]


def _rename(apps, schema_editor, forward: bool) -> None:
    for app, model in MOVED:
        old, new = f"{app}_{model}", f"catalog_{model}"
        if not forward:
            old, new = new, old
        if old in schema_editor.connection.introspection.table_names():
            schema_editor.alter_db_table(apps.get_model(app, model), old, new)


def rename_tables(apps, schema_editor):
    _rename(apps, schema_editor, True)


def unrename_tables(apps, schema_editor):
    _rename(apps, schema_editor, False)


def _content_types(apps, forward: bool) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for app, model in MOVED:
        src, dst = (app, "catalog") if forward else ("catalog", app)
        if not ContentType.objects.filter(app_label=dst, model=model).exists():
            ContentType.objects.filter(app_label=src, model=model).update(app_label=dst)


def move_content_types(apps, schema_editor):
    _content_types(apps, True)


def unmove_content_types(apps, schema_editor):
    _content_types(apps, False)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("deployments", "0002_initial"),
        ("billing", "0003_billingpolicy_referenceprice_chargeback_budgetalert_and_more"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(rename_tables, unrename_tables),
        migrations.RunPython(move_content_types, unmove_content_types),
        migrations.SeparateDatabaseAndState(state_operations=[
        migrations.CreateModel(
            name='CatalogModel',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('uuid', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('name', models.CharField(help_text='Display name', max_length=100, unique=True)),
                ('slug', models.SlugField(max_length=40, unique=True, validators=[django.core.validators.RegexValidator('^[a-z]([-a-z0-9]*[a-z0-9])?$', "Use lowercase letters, digits and '-', starting with a letter and ending with a letter or digit (an RFC 1123 DNS label).")])),
                ('storage_uri', models.CharField(max_length=300, validators=[django.core.validators.RegexValidator('^(hf://[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(:[0-9a-f]{7,40})?|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?|gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?|pvc://[a-z0-9]([-a-z0-9]*[a-z0-9])?(/[A-Za-z0-9._/-]*)?)$', "Use hf://org/model[:revision], s3://bucket/path, gs://bucket/path or pvc://claim/path (letters, digits, '.', '_', '-' and '/' only).")])),
                ('parameters_b', models.DecimalField(decimal_places=2, max_digits=8, validators=[django.core.validators.MinValueValidator(0.01)], verbose_name='parameters (billions)')),
                ('num_layers', models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(1)])),
                ('num_kv_heads', models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(1)])),
                ('head_dim', models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(1)])),
                ('native_context_length', models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(256)])),
                ('allowed_quantizations', models.JSONField(default=list, help_text='Any of: bf16, fp16, fp8, int8, awq, gptq')),
                ('license', models.CharField(blank=True, max_length=100)),
                ('enabled', models.BooleanField(default=True)),
            ],
            options={
                'verbose_name': 'catalog model',
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='GpuType',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('uuid', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('name', models.CharField(help_text='e.g. L4, A100-80GB, H100', max_length=30, unique=True)),
                ('memory_gib', models.DecimalField(decimal_places=1, max_digits=6)),
                ('node_label_value', models.CharField(blank=True, help_text='Value of the GPU-name node label (karpenter.k8s.aws/instance-gpu-name), e.g. l4', max_length=60)),
                ('enabled', models.BooleanField(default=True)),
            ],
            options={
                'verbose_name': 'GPU type',
                'ordering': ['memory_gib', 'name'],
            },
        ),
        migrations.CreateModel(
            name='InstanceOffering',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('instance_type', models.CharField(help_text='e.g. g6e.xlarge', max_length=60, unique=True)),
                ('gpus_per_node', models.PositiveIntegerField(validators=[django.core.validators.MinValueValidator(1)])),
                ('node_labels', models.JSONField(blank=True, default=dict, help_text='Extra node labels to select this offering.')),
                ('enabled', models.BooleanField(default=True)),
                ('gpu_type', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='offerings', to='catalog.gputype')),
            ],
            options={
                'ordering': ['gpu_type__memory_gib', 'gpus_per_node', 'instance_type'],
            },
        ),
        migrations.CreateModel(
            name='GpuRate',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('capacity_type', models.CharField(choices=[('on-demand', 'On-demand'), ('spot', 'Spot'), ('reserved', 'Reserved')], max_length=10)),
                ('hourly_price', models.DecimalField(decimal_places=4, help_text='Price of one node per hour.', max_digits=12, validators=[django.core.validators.MinValueValidator(Decimal('0'))])),
                ('effective_from', models.DateTimeField(default=django.utils.timezone.now)),
                ('offering', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='rates', to='catalog.instanceoffering')),
            ],
            options={
                'verbose_name': 'GPU rate',
                'ordering': ['offering__instance_type', 'capacity_type', '-effective_from'],
                'constraints': [models.UniqueConstraint(fields=('offering', 'capacity_type', 'effective_from'), name='unique_gpu_rate')],
            },
        ),
    ])
    ]
