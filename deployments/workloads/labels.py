"""The labels and annotations every product's cluster objects carry (STYLE §4: billing and
the sync tasks select by label, never by name)."""

MANAGED_BY = "modelport"
LABEL_TEAM = "modelport.io/team"
LABEL_ENDPOINT = "modelport.io/endpoint"
LABEL_ENDPOINT_UUID = "modelport.io/endpoint-uuid"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
ANNOTATION_GENERATION = "modelport.io/generation"
MANAGED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
