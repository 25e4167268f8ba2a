"""Single sign-on (OIDC): claims -> user, IdP groups -> team memberships, roles and staff by
the admin-editable GroupMapping. Sits on portal (users, teams, audit); nothing imports it but the
root URLconf and settings."""
