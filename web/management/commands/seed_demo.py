"""Demo data: the catalog, three teams, users with every role, endpoints in many statuses
with timelines. Idempotent: existing users, teams and endpoints are left as they are.

The timelines are sample history, and say so. Without a cluster nothing can serve, so an
endpoint that is wanted (not stopped, deleted or waiting for approval) ends its sample
history as Not deployed, with no URL, exactly as a new request would (deployments.endpoints.reconcile);
once a cluster is connected, `sync_statuses` applies it like any other lost apply."""

from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from catalog.models import CatalogModel, GpuType
from catalog.seed import seed_catalog
from deployments.endpoints.admission import estimate_request
from deployments.endpoints.choices import EndpointStatus, EventKind
from deployments.endpoints.reconcile import NO_CLUSTER_MESSAGE
from deployments.k8s import cluster_configured
from deployments.models import Endpoint, EndpointEvent
from deployments.workloads.choices import DesiredState
from portal.models import Membership, Team, TeamGpuQuota, User

DEMO_PASSWORD = "demo"
SAMPLE = "Sample history (seed_demo): "
# Sample statuses that claim something runs (or ran and broke) in a cluster.
CLUSTER_STATUSES = (
    EndpointStatus.READY,
    EndpointStatus.PROVISIONING,
    EndpointStatus.APPLYING,
    EndpointStatus.FAILED,
)

USERS = [  # username, first name, staff
    ("demo", "Demo", True),
    ("alice", "Alice", False),
    ("bob", "Bob", False),
    ("vera", "Vera", False),
    ("carol", "Carol", False),
]

TEAMS = [  # name, slug, max GPUs, budget, approval threshold, approval GPU types
    ("Search Relevance", "search", 24, "40000", "8000", ["H100", "H200"]),
    ("Support Assistants", "support", 16, "25000", "5000", ["H100", "H200"]),
    ("Applied Research", "research", 32, None, None, []),
]

MEMBERSHIPS = [  # team, user, role
    ("search", "demo", "admin"),
    ("support", "demo", "admin"),
    ("research", "demo", "member"),
    ("search", "alice", "admin"),
    ("search", "bob", "member"),
    ("search", "vera", "viewer"),
    ("support", "carol", "admin"),
    ("support", "bob", "member"),
    ("research", "alice", "admin"),
]

# team, name, model slug, GPU, count, quant, context, min, max, capacity, status, message, age h
ENDPOINTS = [
    (
        "search",
        "query-rewriter",
        "llama-3-1-8b-instruct",
        "L4",
        1,
        "bf16",
        8192,
        1,
        3,
        "on-demand",
        EndpointStatus.READY,
        "",
        170,
    ),
    (
        "search",
        "rerank-qwen",
        "qwen2-5-7b-instruct",
        "A10G",
        1,
        "fp8",
        16384,
        1,
        2,
        "on-demand",
        EndpointStatus.PROVISIONING,
        "Waiting for a g5.xlarge node (Karpenter).",
        0.2,
    ),
    (
        "search",
        "long-context-70b",
        "llama-3-1-70b-instruct",
        "H100",
        4,
        "fp8",
        65536,
        1,
        1,
        "on-demand",
        EndpointStatus.PENDING_APPROVAL,
        "H100 GPUs always need approval.",
        3,
    ),
    (
        "search",
        "legacy-mistral",
        "mistral-7b-instruct-v0-3",
        "L4",
        1,
        "bf16",
        8192,
        1,
        1,
        "spot",
        EndpointStatus.DELETED,
        "Deleted by alice.",
        400,
    ),
    (
        "support",
        "helpdesk-chat",
        "llama-3-1-8b-instruct",
        "L40S",
        1,
        "bf16",
        32768,
        2,
        4,
        "on-demand",
        EndpointStatus.READY,
        "",
        300,
    ),
    (
        "support",
        "ticket-summarizer",
        "mistral-7b-instruct-v0-3",
        "L4",
        1,
        "awq",
        16384,
        0,
        2,
        "spot",
        EndpointStatus.STOPPED,
        "Stopped by carol.",
        90,
    ),
    (
        "support",
        "triage-72b",
        "qwen2-5-72b-instruct",
        "A100-80GB",
        2,
        "fp8",
        32768,
        1,
        2,
        "on-demand",
        EndpointStatus.FAILED,
        "Predictor pod failed: CUDA out of memory while allocating the KV cache.",
        26,
    ),
    (
        "research",
        "mixtral-eval",
        "mixtral-8x7b-instruct-v0-1",
        "L40S",
        2,
        "fp8",
        32768,
        0,
        2,
        "spot",
        EndpointStatus.READY,
        "",
        48,
    ),
    (
        "research",
        "qwen72-batch",
        "qwen2-5-72b-instruct",
        "H100",
        2,
        "fp8",
        32768,
        1,
        2,
        "reserved",
        EndpointStatus.APPLYING,
        "Applying generation 2.",
        0.05,
    ),
]


class Command(BaseCommand):
    help = "Create demo teams, users (password 'demo') and endpoints. Safe to run again."

    def handle(self, *args, **options):
        seed_catalog()
        with transaction.atomic():
            users = {name: self._user(name, first, staff) for name, first, staff in USERS}
            teams = {slug: self._team(*row) for row in TEAMS for slug in [row[1]]}
            for slug, username, role in MEMBERSHIPS:
                Membership.objects.get_or_create(
                    team=teams[slug], user=users[username], defaults={"role": role}
                )
            created = sum(self._endpoint(teams, users, *row) for row in ENDPOINTS)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready ({created} new endpoints). Log in as demo / {DEMO_PASSWORD} "
                f"(platform staff), or alice, bob, vera, carol with the same password."
            )
        )

    def _user(self, username, first, staff) -> User:
        user, new = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "email": f"{username}@example.com",
                "is_staff": staff,
                "is_superuser": staff,
            },
        )
        if new:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        return user

    def _team(self, name, slug, max_gpus, budget, threshold, approval_gpus) -> Team:
        team, new = Team.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "max_gpus": max_gpus,
                "monthly_budget": Decimal(budget) if budget else None,
                "approval_cost_threshold": Decimal(threshold) if threshold else None,
                "alert_email": f"{slug}-oncall@example.com",
            },
        )
        if new:
            team.approval_gpu_types.set(GpuType.objects.filter(name__in=approval_gpus))
            if slug == "search":
                TeamGpuQuota.objects.create(
                    team=team, gpu_type=GpuType.objects.get(name="H100"), max_gpus=8
                )
        return team

    def _endpoint(
        self,
        teams,
        users,
        team_slug,
        name,
        model_slug,
        gpu,
        count,
        quant,
        context,
        low,
        high,
        capacity,
        status,
        message,
        age_hours,
    ) -> bool:
        team = teams[team_slug]
        if Endpoint.objects.filter(team=team, name=name).exists():
            return False
        spec = {
            "model": CatalogModel.objects.get(slug=model_slug),
            "gpu_type": GpuType.objects.get(name=gpu),
            "gpu_count": count,
            "quantization": quant,
            "kv_cache_dtype": "auto",
            "max_context_length": context,
            "min_replicas": low,
            "max_replicas": high,
            "target_queue_depth": 4,
            "capacity_type": capacity,
        }
        estimate = estimate_request(team, spec)
        sample_status, sample_message = status, message
        if status in CLUSTER_STATUSES and not cluster_configured():
            status, message = EndpointStatus.NOT_DEPLOYED, NO_CLUSTER_MESSAGE
        requester = users["bob"] if team_slug != "research" else users["alice"]
        created = timezone.now() - timedelta(hours=age_hours)
        applied = status not in (EndpointStatus.PENDING_APPROVAL, EndpointStatus.NOT_DEPLOYED)
        approved = status != EndpointStatus.PENDING_APPROVAL
        endpoint = Endpoint.objects.create(
            team=team,
            name=name,
            requested_by=requester,
            **spec,
            offering=estimate.offering.offering if estimate.offering else None,
            monthly_cost_min=estimate.monthly_cost_min,
            monthly_cost_max=estimate.monthly_cost_max,
            status=status,
            status_message=message,
            desired_state={
                EndpointStatus.STOPPED: DesiredState.STOPPED,
                EndpointStatus.DELETED: DesiredState.ABSENT,
            }.get(status, DesiredState.PRESENT),
            generation=2 if status == EndpointStatus.APPLYING else 1,
            applied_generation=1 if applied else 0,
            approved_by=users["alice"] if approved else None,
            approved_at=created + timedelta(minutes=2) if approved else None,
            url=(
                f"https://{name}-predictor.{team.namespace}.example.com/v1"
                if status == EndpointStatus.READY
                else ""
            ),
        )
        self._timeline(endpoint, requester, created, (sample_status, sample_message), status)
        return True

    def _timeline(self, endpoint, requester, start, sample, now_status) -> None:
        status, message = sample
        steps = [
            (
                0,
                EventKind.REQUEST,
                "",
                EndpointStatus.PENDING_APPROVAL
                if status == EndpointStatus.PENDING_APPROVAL
                else EndpointStatus.APPROVED,
                f"Requested by {requester}.",
                requester,
            )
        ]
        if status != EndpointStatus.PENDING_APPROVAL:
            path = [EndpointStatus.APPLYING, EndpointStatus.PROVISIONING, EndpointStatus.READY]
            previous = EndpointStatus.APPROVED
            minutes = 2
            for step in path:
                if status in (EndpointStatus.APPLYING,) and step != EndpointStatus.APPLYING:
                    break
                steps.append(
                    (
                        minutes,
                        EventKind.STATUS,
                        previous,
                        step,
                        "Cold start finished; serving traffic."
                        if step == EndpointStatus.READY
                        else f"{step.label}.",
                        None,
                    )
                )
                previous, minutes = (
                    step,
                    minutes + (7 if step == EndpointStatus.PROVISIONING else 1),
                )
                if step == status or (
                    status == EndpointStatus.PROVISIONING and step == EndpointStatus.PROVISIONING
                ):
                    break
            if status in (EndpointStatus.FAILED, EndpointStatus.STOPPED, EndpointStatus.DELETED):
                kind = EventKind.ERROR if status == EndpointStatus.FAILED else EventKind.ACTION
                steps.append((minutes + 60, kind, previous, status, message, None))
        else:
            steps.append((0, EventKind.APPROVAL, "", "", f"Waiting for approval: {message}", None))
        if now_status != status:  # no cluster: the sample ends; the endpoint waits for one
            age = int((timezone.now() - start).total_seconds() // 60)
            steps.append((age, EventKind.STATUS, status, now_status, endpoint.status_message, None))
        previous_offset = 0
        for offset, kind, old, new, text, actor in steps:
            if new != EndpointStatus.NOT_DEPLOYED:
                text = SAMPLE + text
            spent, previous_offset = (offset - previous_offset) * 60, offset
            event = EndpointEvent.objects.create(
                endpoint=endpoint,
                kind=kind,
                old_status=old,
                new_status=new,
                message=text,
                actor=actor,
                generation=1,
                duration_seconds=spent if old and spent else None,
            )
            EndpointEvent.objects.filter(pk=event.pk).update(
                created_at=start + timedelta(minutes=offset)
            )
        last = start + timedelta(minutes=steps[-1][0])
        Endpoint.objects.filter(pk=endpoint.pk).update(
            created_at=start,
            status_changed_at=last,
            ready_at=last if now_status == EndpointStatus.READY else None,
            deleted_at=last if now_status == EndpointStatus.DELETED else None,
        )
