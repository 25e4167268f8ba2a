"""Status by watch: one long-running process (`manage.py watch_status`, one active replica by a
Kubernetes Lease) lists the managed objects once, then watches them and records each change
as it happens. `products` is the only module here that knows the products."""
