from django.apps import AppConfig


class LibrariesConfig(AppConfig):
    name = "libraries"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from common import anycase

        anycase.install()  # ?search=, ?genre= and the admin's search match any case in every script
