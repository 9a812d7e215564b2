from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "media"
    verbose_name = "Media streaming"

    def ready(self) -> None:
        from django.conf import settings

        from media.redaction import install_log_redaction

        # Logs follow the global PII_REDACTION (read per record, so a change applies at once).
        install_log_redaction(lambda: settings.PII_REDACTION)

        from media.speech import configure_tts_pool

        configure_tts_pool()
