from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "media"
    verbose_name = "Media streaming"

    def ready(self) -> None:
        from django.conf import settings

        from media.redaction import install_log_redaction

        # Logs follow the global PII_REDACTION (read per record, so a change applies at once).
        install_log_redaction(lambda: settings.PII_REDACTION)

        from media.conversation.control import conversation_end_request
        from media.speech import (
            configure_tts_pool,
            phrase_cache_counts,
            readiness_checks,
            tts_pool_snapshot,
        )
        from metrics.registry import SpeechStack, speech_stack_register

        configure_tts_pool()
        # Metrics reports on the speech stack and ends its conversations through these; it
        # imports nothing of media.
        speech_stack_register(
            SpeechStack(
                checks=readiness_checks,
                tts_pool_snapshot=tts_pool_snapshot,
                phrase_cache_counts=phrase_cache_counts,
                conversation_end=conversation_end_request,
            )
        )
