import io

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.test import RequestFactory

pytestmark = pytest.mark.django_db


def _run() -> str:
    out = io.StringIO()
    call_command("create_first_admin", stdout=out)
    return out.getvalue()


def test_first_run_creates_an_admin_with_a_random_password_printed_once():
    first = _run()
    password = first.split("password: ")[1].split()[0]
    assert len(password) >= 12
    login = RequestFactory().post("/accounts/login/")  # django-axes checks every login against its request
    assert authenticate(login, username="admin", password=password).is_superuser

    second = _run()
    assert password not in second and "changepassword admin" in second
    assert get_user_model().objects.count() == 1


def test_two_installs_get_different_passwords(django_user_model):
    first = _run().split("password: ")[1].split()[0]
    django_user_model.objects.all().delete()
    assert _run().split("password: ")[1].split()[0] != first
