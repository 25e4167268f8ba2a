"""python -m tests.infra.oidc_provider.serve --port N --workdir DIR --spec FILE

Creates the provider's database, signing key, users (with groups) and the portal's client from
the JSON spec, then serves on 127.0.0.1:N (Django's threaded development server)."""

import argparse
import json
import os
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--spec", required=True)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    key = workdir / "signing-key.pem"
    if not key.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        key.write_bytes(pem)
    os.environ["OIDC_PROVIDER_WORKDIR"] = str(workdir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.infra.oidc_provider.settings"
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0, interactive=False)
    spec = json.loads(Path(args.spec).read_text())
    for person in spec["users"]:
        user, _ = User.objects.update_or_create(
            username=person["username"],
            defaults={k: person.get(k, "") for k in ("email", "first_name", "last_name")},
        )
        user.set_password(person["password"])
        user.save()
        user.groups.set([Group.objects.get_or_create(name=g)[0] for g in person["groups"]])
    client = spec["client"]
    Application.objects.filter(client_id=client["client_id"]).delete()
    Application.objects.create(
        name="ModelPort",
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(client["redirect_uris"]),
        post_logout_redirect_uris=" ".join(client["post_logout_redirect_uris"]),
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    sys.stdout.write("provider ready\n")
    sys.stdout.flush()
    call_command("runserver", f"127.0.0.1:{args.port}", use_reloader=False, use_threading=True)


if __name__ == "__main__":
    main()
