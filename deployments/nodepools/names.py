"""Task names of the node pools (fixed: queued messages and the beat schedule use them)."""

APPLY_NODEPOOLS = "deployments.apply_nodepools"
