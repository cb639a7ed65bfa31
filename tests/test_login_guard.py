"""Lockouts that cannot be turned against the owner (issue 23, part 2)."""

import pytest
from axes.models import AccessAttempt
from rest_framework.authtoken.models import Token

from tests.helpers import make_operator

pytestmark = pytest.mark.django_db


def get_libraries(client, token: str, address: str = "192.0.2.9"):
    return client.get("/api/libraries/", HTTP_AUTHORIZATION=f"Token {token}", REMOTE_ADDR=address)


def test_wrong_tokens_never_lock_out_a_valid_one(client, settings):
    settings.AXES_FAILURE_LIMIT = 5
    good = Token.objects.create(user=make_operator("ops")).key
    answers = [get_libraries(client, f"deadbeef{n}").status_code for n in range(5)]
    assert answers == [401] * 4 + [429]

    assert get_libraries(client, good).status_code == 200, "the owner's token still works from that address"
    refused = get_libraries(client, "deadbeef99")
    assert refused.status_code == 429 and "wrong API token" in refused.json()["detail"] and refused["Retry-After"]
    assert get_libraries(client, good).status_code == 200
    assert get_libraries(client, "deadbeef99", address="192.0.2.10").status_code == 401, "only that address waits"


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
@pytest.mark.parametrize("name", ["(API token)", " (API token) ", "\uff08API token\uff09"])  # fullwidth parentheses
def test_the_token_user_name_cannot_be_used_at_the_login_forms(client, settings, url, name):
    settings.AXES_FAILURE_LIMIT = 3
    good = Token.objects.create(user=make_operator("ops")).key
    wrong = client.post(url, {"username": "nobody", "password": "anything"}, REMOTE_ADDR="192.0.2.1")
    for _ in range(5):
        response = client.post(url, {"username": name, "password": "anything"}, REMOTE_ADDR="192.0.2.9")
        assert response.status_code == 200
        assert response.context["form"].errors == wrong.context["form"].errors, "the answer to any wrong login"
    assert not AccessAttempt.objects.filter(ip_address="192.0.2.9").exists(), "nothing was counted"
    assert get_libraries(client, good).status_code == 200
    assert get_libraries(client, "deadbeef").status_code == 401, "wrong tokens from there start from zero"


def test_a_locked_out_user_still_logs_in_from_an_address_that_never_failed(client, django_user_model):
    """AXES_LOCKOUT_PARAMETERS: one user at one address, never the user everywhere nor the address for everyone."""
    django_user_model.objects.create_user("admin", password="the-right-pass-1", is_staff=True)
    django_user_model.objects.create_user("bob", password="bobs-right-pass-1")

    def login(username: str, password: str, address: str) -> int:
        client.logout()
        return client.post("/accounts/login/", {"username": username, "password": password},
                           REMOTE_ADDR=address).status_code

    assert [login("admin", f"guess-{n}", "203.0.113.5") for n in range(10)] == [200] * 9 + [429]
    assert login("admin", "the-right-pass-1", "203.0.113.5") == 429
    assert login("admin", "the-right-pass-1", "198.51.100.20") == 302, "the owner, from an address that never failed"
    assert login("bob", "bobs-right-pass-1", "203.0.113.5") == 302, "another user from the attacker's address"
