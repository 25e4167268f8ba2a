"""A real OpenID Connect provider for the SSO tests: django-oauth-toolkit's OIDC provider run as
its own small server process (its own settings, SQLite database and RSA signing key), with a
password login form, users in groups (the `groups` claim) and RP-initiated logout.
Started by tests/infra/oidc.py (``python -m tests.infra.oidc_provider.serve``)."""
