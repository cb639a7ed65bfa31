"""Create the first admin account with a random password, printed once.

Run by `make run`. Does nothing once any superuser exists, so there is never a default or
re-printed password; a forgotten one is reset with `manage.py changepassword`.
"""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first superuser with a random password (printed once) if none exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        User = get_user_model()
        existing = User.objects.filter(is_superuser=True).order_by("id").first()
        if existing:
            self.stdout.write(
                f"Log in as an existing admin (e.g. '{existing.get_username()}'). "
                f"Forgot the password? .venv/bin/python manage.py changepassword {existing.get_username()}"
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        banner = "=" * 64
        self.stdout.write(
            f"{banner}\nFirst run: created the admin account.\n"
            f"  username: {username}\n  password: {password}\n"
            f"This password is shown only once. Change it after logging in.\n{banner}"
        )
