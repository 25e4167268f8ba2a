"""Names of the route tasks (routing/tasks.py registers them; services queue them by name)."""

APPLY_ROUTE = "deployments.apply_route"
SYNC_ROUTES = "deployments.sync_routes"
STEER_ROUTES = "deployments.steer_routes"
