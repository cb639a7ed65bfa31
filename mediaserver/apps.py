from django.apps import AppConfig


class MediaserverConfig(AppConfig):
    name = "mediaserver"

    def ready(self) -> None:
        from mediaserver import login_guard  # noqa: F401  (connects the failed-login receivers)
