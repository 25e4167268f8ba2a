from django.urls import reverse


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()


def test_login_with_good_password_goes_home(client, member):
    response = client.post(reverse("login"), {"username": "bob", "password": "password"})
    assert response.status_code == 302 and response["Location"] == reverse("portal:home")


def test_login_with_bad_password_says_so(client, member):
    response = client.post(reverse("login"), {"username": "bob", "password": "nope"})
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()


def test_logout_is_a_post(member_client):
    assert member_client.post(reverse("logout")).status_code == 302
