"""The platform's GPU node pools: Karpenter NodePools and their NodeClass from the catalog
(manifests.py), applied by the worker (reconcile.py, tasks.py), what each pool runs and costs
(usage.py), and why a pending replica has no node yet (pending.py)."""
