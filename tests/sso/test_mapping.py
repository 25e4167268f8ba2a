"""Claims -> user, groups -> team memberships, roles and staff (sso.services), the mapping's
own rules, and the sign-in page with and without single sign-on."""

import pytest
from django.core.exceptions import ValidationError

from portal.models import AuditLog, Membership
from sso import oidc
from sso.models import GroupMapping, OidcIdentity
from sso.services import SignInRefused, access_for, sign_in
from tests.factories import TeamFactory, UserFactory

ISSUER = "https://login.corp.example"
ADMIN, MEMBER, VIEWER = Membership.Role.ADMIN, Membership.Role.MEMBER, Membership.Role.VIEWER


def claims(sub="u-1", username="ada", groups=("search-admins",), **extra):
    return {
        "sub": sub,
        "preferred_username": username,
        "email": f"{username}@corp.example",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "groups": list(groups),
        **extra,
    }


def login(c):
    return sign_in(ISSUER, c, username_claim="preferred_username", groups_claim="groups")


@pytest.fixture
def search(db):
    return TeamFactory(name="Search", slug="search")


@pytest.fixture
def chat(db):
    return TeamFactory(name="Chat", slug="chat")


@pytest.fixture
def mappings(search, chat):
    return [
        GroupMapping.objects.create(group="search-admins", team=search, role=ADMIN),
        GroupMapping.objects.create(group="search-devs", team=search, role=MEMBER),
        GroupMapping.objects.create(group="readers", team=search, role=VIEWER),
        GroupMapping.objects.create(group="readers", team=chat, role=VIEWER),
        GroupMapping.objects.create(group="platform", grants_staff=True),
    ]


def roles(user):
    return {m.team.slug: m.role for m in Membership.objects.filter(user=user)}


def test_access_takes_the_highest_role_per_team_and_staff_from_any_group(mappings, search, chat):
    access = access_for(["readers", "search-devs", "platform", "nobody-maps-this"], mappings)
    assert access.roles == {search.pk: MEMBER, chat.pk: VIEWER}
    assert access.staff is True
    assert access_for(["readers"], mappings).staff is False
    assert access_for([], mappings).roles == {}


def test_first_sign_in_creates_the_user_with_mapped_teams_and_no_password(mappings):
    user = login(claims(groups=["search-admins", "readers", "platform"]))
    assert (user.username, user.email, user.first_name, user.last_name) == (
        "ada",
        "ada@corp.example",
        "Ada",
        "Lovelace",
    )
    assert not user.has_usable_password()
    assert roles(user) == {"search": ADMIN, "chat": VIEWER}
    assert user.is_staff and not user.is_superuser
    identity = user.oidc_identity
    assert (identity.issuer, identity.subject) == (ISSUER, "u-1")
    assert identity.groups == ["search-admins", "readers", "platform"]
    actions = sorted(AuditLog.objects.values_list("action", flat=True))
    assert actions == ["membership.sso_add", "membership.sso_add", "user.sso_staff"]


def test_later_sign_ins_follow_the_groups_and_leave_hand_made_memberships(mappings, search, chat):
    user = login(claims(groups=["search-admins", "platform"]))
    other = TeamFactory(name="Other", slug="other")
    Membership.objects.create(team=other, user=user, role=MEMBER)  # added by a team admin
    again = login(claims(groups=["search-devs"], email="ada@new.example"))
    assert again.pk == user.pk and again.email == "ada@new.example"
    assert roles(again) == {"search": MEMBER, "other": MEMBER}
    assert not again.is_staff
    login(claims(groups=[]))
    assert roles(user) == {"other": MEMBER}
    assert set(user.oidc_identity.managed_teams.all()) == set()


def test_an_existing_hand_made_membership_is_not_taken_over(mappings, search):
    user = login(claims(groups=[]))
    Membership.objects.create(team=search, user=user, role=VIEWER)
    login(claims(groups=["search-admins"]))
    assert roles(user) == {"search": VIEWER}  # the team admin's choice stands
    login(claims(groups=[]))
    assert roles(user) == {"search": VIEWER}


def test_the_same_subject_is_the_same_user_whatever_the_username_says(mappings):
    user = login(claims(username="ada"))
    assert login(claims(username="ada.lovelace")).pk == user.pk
    assert OidcIdentity.objects.count() == 1


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"sub": ""}, "no 'sub' claim"),
        ({"preferred_username": ""}, "no 'preferred_username' claim"),
        ({"groups": "not-a-list-of-names-but-a-dict"}, None),
        ({"groups": [1, 2]}, "not a list of group names"),
    ],
)
def test_unusable_claims_are_refused_and_change_nothing(mappings, bad, message):
    if message is None:  # a single group name as a string is accepted
        assert login(claims(**bad)).username == "ada"
        return
    with pytest.raises(SignInRefused, match=message):
        login(claims(**bad))
    assert not OidcIdentity.objects.exists() and not Membership.objects.exists()


def test_a_local_account_with_the_same_username_is_never_taken_over(mappings):
    local = UserFactory(username="ada")
    with pytest.raises(SignInRefused, match="a local account 'ada' already exists"):
        login(claims())
    assert not OidcIdentity.objects.exists() and roles(local) == {}
    # the admin links the account: from then on it signs in through the provider
    OidcIdentity.objects.create(user=local, issuer=ISSUER, subject="u-1")
    assert login(claims(groups=["search-admins"])).pk == local.pk
    assert roles(local) == {"search": ADMIN}


def test_a_deactivated_user_is_refused(mappings):
    user = login(claims())
    user.is_active = False
    user.save()
    with pytest.raises(SignInRefused, match="deactivated"):
        login(claims(groups=["platform"]))
    user.refresh_from_db()
    assert not user.is_staff


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"team": True, "role": ""}, "A team needs a role"),
        ({"team": False, "role": ADMIN}, "A team needs a role"),
        ({"team": False, "role": ""}, "Map the group to a team role, to staff, or both"),
    ],
)
def test_a_mapping_must_grant_something_whole(search, fields, error):
    mapping = GroupMapping(group="g", team=search if fields["team"] else None, role=fields["role"])
    with pytest.raises(ValidationError, match=error):
        mapping.full_clean()


def test_the_admin_edits_the_mapping(staff_client, search):
    response = staff_client.post(
        "/admin/sso/groupmapping/add/",
        {"group": "search-admins", "team": search.pk, "role": ADMIN, "grants_staff": "on"},
    )
    assert response.status_code == 302, response.content
    mapping = GroupMapping.objects.get()
    assert (mapping.team, mapping.role, mapping.grants_staff) == (search, ADMIN, True)
    assert AuditLog.objects.filter(action="groupmapping.add").exists()
    assert staff_client.get("/admin/sso/oidcidentity/").status_code == 200


def test_without_a_provider_the_login_page_offers_local_accounts_only(client, db, settings):
    settings.OIDC_OP_ISSUER = ""
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with" not in page
    assert client.get("/oidc/authenticate/").status_code == 404


def test_local_break_glass_login_works_while_the_provider_is_down(client, db, settings):
    settings.OIDC_OP_ISSUER = "http://127.0.0.1:9/nothing-listens"
    settings.OIDC_RP_CLIENT_ID = "modelport"
    oidc.forget_discovery()
    UserFactory(username="root", password="break-glass-pw", is_staff=True)
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with single sign-on" in page
    response = client.post("/accounts/login/", {"username": "root", "password": "break-glass-pw"})
    assert response.status_code == 302 and response.url == "/"
    assert client.get("/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response.url == "/accounts/login/"
