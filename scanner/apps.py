from django.apps import AppConfig


class ScannerAppConfig(AppConfig):
    name = "scanner"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Only wiring: scanner/runtime/entrypoints.py decides whether this process scans at all.
        from scanner.runtime.entrypoints import on_ready

        on_ready()
