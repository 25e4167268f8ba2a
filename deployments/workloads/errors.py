"""Domain errors. Services raise them; views and serializers turn them into messages or 400s."""


class DeploymentError(Exception):
    """Base class: a request that cannot be carried out, with a message for the user."""

    field: str | None = None

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class QuotaExceeded(DeploymentError):
    pass


class BudgetExceeded(DeploymentError):
    pass


class SpendUnknown(BudgetExceeded):
    """No spend source is registered, so the budget rule cannot be checked: it fails closed."""


class InvalidTransition(DeploymentError):
    """The action is not allowed in the endpoint's current state (e.g. scale a deleted one)."""


class SelfApproval(DeploymentError):
    """Four eyes: the requester of a change never approves it (staff included)."""


class ApprovalRequired(DeploymentError):
    """A day-2 change the team's approval rules send to an approver, made by someone else."""


class DuplicateEndpoint(DeploymentError):
    field = "name"


class ClusterError(Exception):
    pass


class TransientClusterError(ClusterError):
    """5xx, 429, timeouts, apiserver down: retry with backoff."""


class PermanentClusterError(ClusterError):
    """400/422 invalid, 403 forbidden, 409 field-manager conflict: do not retry."""
