from django.apps import AppConfig


class VoiceProjectConfig(AppConfig):
    name = "voiceproject"
    verbose_name = "Voice agent platform"
