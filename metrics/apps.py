from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Metrics"

    def ready(self) -> None:
        from metrics import tasks  # noqa: F401  (registers the tasks the services queue by name)
        from voiceproject import tracing

        tracing.configure_from_settings()
