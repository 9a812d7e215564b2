from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "media"
    verbose_name = "Media streaming"

    def ready(self) -> None:
        from media.speech import configure_tts_pool

        configure_tts_pool()
