"""Settings, read from the environment (and `.env`). Every variable is listed in `.env.example`.

Unset means the embedded default (SQLite, in-memory channel layer, eager Celery, local-memory
cache, offline speech providers); set means the real thing.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import environ

from media.modes import StreamMode

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VERSION = "1.0.0"

DEBUG = env.bool("DJANGO_DEBUG", default=True)
_DEV_SECRET_KEY = "django-insecure-local-development-key-never-use-in-production"
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise environ.ImproperlyConfigured("Set DJANGO_SECRET_KEY when DJANGO_DEBUG=0.")
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS",
    default=["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else [],
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Proxies (IP addresses or CIDR networks) whose X-Forwarded-For names the client, for rate
# limits (voiceproject/throttling.py). Empty: the header is ignored.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise environ.ImproperlyConfigured(
            f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or CIDR network."
        ) from None

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "voiceproject",
    "agentbuilder",
    "media",
    "calls",
    "browser",
    "metrics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "voiceproject.middleware.StaticFilesMiddleware",  # WhiteNoise, async-capable
    # Outside CommonMiddleware: its slash-appending redirects win over the API's JSON 404.
    "voiceproject.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "voiceproject.urls"
ASGI_APPLICATION = "voiceproject.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- data stores -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # An unreachable database must fail fast (readiness reports it instead of hanging).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT_S", default=5)
    )
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The offline default writes from several threads (consumers, the metrics writer): WAL lets
    # readers run beside the writer, IMMEDIATE takes the write lock at BEGIN so two writers
    # queue on the busy timeout instead of failing, and the test database is a file because an
    # in-memory shared-cache database fails such waits at once ("table is locked").
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # One file per test process, so parallel runs on one machine never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# Redis operations must fail fast (readiness reports a stopped Redis instead of hanging).
REDIS_TIMEOUT_S = env.float("REDIS_TIMEOUT_S", default=2.0)

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis that rides out a Redis outage (voiceproject/channel_layer.py).
            "BACKEND": "voiceproject.channel_layer.RedisChannelLayer",
            "CONFIG": {
                # A consumer's receive blocks in BZPOPMIN for 5 s; redis-py 8's default 5 s
                # socket timeout would cut every idle socket, so reads get a longer one.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 15,
                        "socket_connect_timeout": REDIS_TIMEOUT_S,
                    }
                ],
                "prefix": env.str("CHANNELS_PREFIX", default="voice"),
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_TIMEOUT_S,
                "socket_timeout": REDIS_TIMEOUT_S,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or None)
# Without a broker, tasks run in-process when queued (the embedded default).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_TIMEOUT_S
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": REDIS_TIMEOUT_S}
CELERY_TASK_ACKS_LATE = True
# Deployments sharing one Redis keep their tasks apart with their own queue name.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}
# Session metrics housekeeping (metrics/tasks.py).
CELERY_BEAT_SCHEDULE["metrics-close-stale-sessions"] = {
    "task": "metrics.tasks.close_stale_sessions",
    "schedule": 300.0,
}
CELERY_BEAT_SCHEDULE["metrics-rollup-agent-latency"] = {
    "task": "metrics.tasks.rollup_agent_latency",
    "schedule": 900.0,
}
# Server processes beat every SERVER_HEARTBEAT_S (0: off); one silent for SERVER_DEAD_AFTER_S is
# dead, and its conversations are closed as disconnected (voiceproject/processes.py).
SERVER_HEARTBEAT_S = env.float("SERVER_HEARTBEAT_S", default=5.0)
SERVER_DEAD_AFTER_S = env.float("SERVER_DEAD_AFTER_S", default=30.0)
# `manage.py serve`: server processes behind HAProxy (0: one per core).
SERVE_PROCESSES = env.int("SERVE_PROCESSES", default=0)
CELERY_BEAT_SCHEDULE["voiceproject-sweep-server-processes"] = {
    "task": "voiceproject.tasks.sweep_server_processes",
    "schedule": 15.0,
}
# An active session with no turn or event for this long is closed as abandoned.
METRICS_STALE_SESSION_MINUTES = env.int("METRICS_STALE_SESSION_MINUTES", default=30)
# DELETE /api/v1/sessions/{id}: how long the socket hosting a live conversation (on any
# process) has to store and close it before the session is closed without it.
SESSION_END_WAIT_S = env.float("SESSION_END_WAIT_S", default=5.0)
# While the database is down, the metrics writer keeps up to this many writes (turns, session
# state) and applies them once it is back; beyond it the oldest are dropped and counted.
METRICS_BUFFER_MAX = env.int("METRICS_BUFFER_MAX", default=2000)
LOOP_LAG_READY_MS = env.float("LOOP_LAG_READY_MS", default=100.0)  # p99 loop lag → 503; 0: off
# Readiness answers 503 while this process holds this many conversations (0: no limit), so a
# load balancer sends new calls to another process.
READY_MAX_SESSIONS = env.int("READY_MAX_SESSIONS", default=0)

# --- auth and API ------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/admin/login/"

REST_FRAMEWORK = {
    # Token first so that an anonymous request is answered 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_SCHEMA_CLASS": "voiceproject.schema.ApiAutoSchema",
    # JSON bodies only: form input reads an empty field as one left out (see voiceproject.schema).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "EXCEPTION_HANDLER": "voiceproject.errors.api_exception_handler",
    # No proxy is trusted by DRF's own throttles; ours read TRUSTED_PROXIES.
    "NUM_PROXIES": 0,
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_ANON_RATE", default="60/minute"),
        "demo_create": env.str("DEMO_CREATE_RATE", default="30/hour"),
        # Anonymous session-agent creates, replaces and removals (the builder page).
        "session_agent_write": env.str("SESSION_AGENT_WRITE_RATE", default="60/hour"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Real-Time Voice Agent API",
    "DESCRIPTION": (
        "REST API of the real-time voice agent platform: calls over Azure Communication "
        "Services, browser conversations, agents and the agent builder, metrics and health. "
        "WebSocket endpoints are described in the README."
    ),
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Swagger UI would otherwise send the schema to validator.swagger.io for a badge.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CallStatusEnum": "calls.models.CallStatus",
        "SessionStatusEnum": "metrics.models.SessionStatus",
        "LiveOrEndedEnum": "metrics.api.sessions.LIVE_OR_ENDED",
    },
}

# --- i18n, static ------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=VAR_DIR / "static")
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)

# --- production hardening (DJANGO_DEBUG=0) -------------------------------------------------
# Load-balancer probes speak plain HTTP to the app: liveness and readiness never redirect.
SECURE_REDIRECT_EXEMPT = [
    r"^api/v1/health$",
    r"^api/v1/readiness$",
    r"^api/v1/tts/dedicated/status$",
]
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

# --- the product -------------------------------------------------------------------------
BASE_URL = env.str("BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Personal data callers say (card, social security, account and phone numbers, emails):
# off | store (replaced in stored transcripts, logs, dashboard relay, traces) | llm (also in
# the LLM's context). Agents may set their own (admin: Privacy); logs follow this one.
PII_REDACTION = env.str("PII_REDACTION", default="off").lower()
if PII_REDACTION not in ("off", "store", "llm"):
    raise environ.ImproperlyConfigured("PII_REDACTION must be off, store or llm")
ACS_STREAMING_MODE = env.str("ACS_STREAMING_MODE", default=StreamMode.MEDIA.value).lower()
ACS_CONNECTION_STRING = env.str("ACS_CONNECTION_STRING", default="")
ACS_ENDPOINT = env.str("ACS_ENDPOINT", default="")
ACS_SOURCE_PHONE_NUMBER = env.str("ACS_SOURCE_PHONE_NUMBER", default="")
# Outbound calls: when set, who answers is screened first (`media/voicemail.py`), and a voicemail
# box gets this message after its beep instead of the agent (per call: `voicemail_message`).
VOICEMAIL_MESSAGE = env.str("VOICEMAIL_MESSAGE", default="")
# Shared secret carried in callback and media URLs when ACS JWT verification is not configured.
ACS_CALLBACK_SECRET = env.str("ACS_CALLBACK_SECRET", default="")
ACS_JWT_AUDIENCE = env.str("ACS_JWT_AUDIENCE", default="")
ACS_JWKS_URL = env.str("ACS_JWKS_URL", default="")
ACS_JWT_ISSUER = env.str(
    "ACS_JWT_ISSUER", default="https://acscallautomation.communication.azure.com"
)
# `transcription` mode: ACS's own speech-to-text needs an Azure AI services resource.
ACS_COGNITIVE_SERVICES_ENDPOINT = env.str("ACS_COGNITIVE_SERVICES_ENDPOINT", default="")
# Calls started with record_call: a Blob container (https URL) for the WAVs, else ACS's storage.
ACS_RECORDING_CONTAINER_URL = env.str("ACS_RECORDING_CONTAINER_URL", default="")
ACS_TRANSCRIPTION_LOCALE = env.str("ACS_TRANSCRIPTION_LOCALE", default="en-US")
# Transfer to a person (`transfer_to_human`, `escalate_human`, POST /api/v1/calls/transfer):
# who takes the call (E.164 or an ACS user id), cold or warm (the person first hears a summary
# spoken by ACS in ACS_PLAY_VOICE, then this app leaves the call), and how long a tool waits
# for ACS to say whether the transfer went through.
HUMAN_TRANSFER_TARGET = env.str("HUMAN_TRANSFER_TARGET", default="")
HUMAN_TRANSFER_MODE = env.str("HUMAN_TRANSFER_MODE", default="cold").lower()
if HUMAN_TRANSFER_MODE not in ("cold", "warm"):
    raise environ.ImproperlyConfigured("HUMAN_TRANSFER_MODE must be cold or warm")
ACS_PLAY_VOICE = env.str("ACS_PLAY_VOICE", default="en-US-AvaMultilingualNeural")
TRANSFER_WAIT_S = env.float("TRANSFER_WAIT_S", default=20.0)

AZURE_SPEECH_KEY = env.str("AZURE_SPEECH_KEY", default="")
AZURE_SPEECH_REGION = env.str("AZURE_SPEECH_REGION", default="")
AZURE_SPEECH_ENDPOINT = env.str("AZURE_SPEECH_ENDPOINT", default="")
AZURE_SPEECH_RESOURCE_ID = env.str("AZURE_SPEECH_RESOURCE_ID", default="")
AZURE_OPENAI_ENDPOINT = env.str("AZURE_OPENAI_ENDPOINT", default="")
AZURE_OPENAI_KEY = env.str("AZURE_OPENAI_KEY", default="")
AZURE_OPENAI_API_VERSION = env.str("AZURE_OPENAI_API_VERSION", default="2024-10-21")
AZURE_OPENAI_CHAT_DEPLOYMENT = env.str("AZURE_OPENAI_CHAT_DEPLOYMENT", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="gpt-4o-mini")
AZURE_VOICE_LIVE_ENDPOINT = env.str("AZURE_VOICE_LIVE_ENDPOINT", default="")
AZURE_VOICE_LIVE_KEY = env.str("AZURE_VOICE_LIVE_KEY", default="")
AZURE_VOICE_LIVE_MODEL = env.str("AZURE_VOICE_LIVE_MODEL", default="gpt-4o")
OPENAI_REALTIME_URL = env.str("OPENAI_REALTIME_URL", default="")
OPENAI_REALTIME_MODEL = env.str("OPENAI_REALTIME_MODEL", default="gpt-realtime")

# local = the best offline recognizer (whisper); pocketsphinx is the quick, less accurate option.
STT_PROVIDER = env.str("STT_PROVIDER", default="local")
WHISPER_MODEL_PATH = env.str("WHISPER_MODEL_PATH", default="")  # a CTranslate2 Whisper model
WHISPER_PROMPT = env.str("WHISPER_PROMPT", default="")  # vocabulary of your domain
TTS_PROVIDER = env.str("TTS_PROVIDER", default="local")
LLM_PROVIDER = env.str("LLM_PROVIDER", default="rules")
VAD_PROVIDER = env.str("VAD_PROVIDER", default="silero")
REALTIME_PROVIDER = env.str("REALTIME_PROVIDER", default="none")
INSTITUTION_NAME = env.str("INSTITUTION_NAME", default="Contoso Bank")  # rendered into prompts
DEMO_USER_TTL_SECONDS = env.int("DEMO_USER_TTL_SECONDS", default=86400)
SESSION_AGENT_TTL_SECONDS = env.int("SESSION_AGENT_TTL_SECONDS", default=86400)
# Browser conversations without signing in: on in DEBUG (make run), off in production.
BROWSER_ALLOW_ANONYMOUS = env.bool("BROWSER_ALLOW_ANONYMOUS", default=DEBUG)
END_OF_TURN_SILENCE_MS = env.int("END_OF_TURN_SILENCE_MS", default=400)
# How long a conversation waits on a provider or a tool before it apologises and goes on.
LLM_TIMEOUT_S = env.float("LLM_TIMEOUT_S", default=15.0)  # first token, and between two
TTS_TIMEOUT_S = env.float("TTS_TIMEOUT_S", default=10.0)  # first audio of each piece
TOOL_TIMEOUT_S = env.float("TOOL_TIMEOUT_S", default=10.0)
# Speech over the agent that stops its audio at once (resumed if it was a noise); 0 = off.
BARGE_IN_PAUSE_MS = env.int("BARGE_IN_PAUSE_MS", default=40)


def _require(*names: str, why: str) -> None:
    missing = [name for name in names if not globals()[name]]
    if missing:
        raise environ.ImproperlyConfigured(f"{why} needs {', '.join(missing)} to be set.")


def _speech_providers() -> dict[str, dict]:
    """Provider backends by kind, shaped like Django's CACHES: {kind: {BACKEND, OPTIONS}}."""
    whisper = {"model_path": WHISPER_MODEL_PATH}
    if WHISPER_PROMPT:
        whisper["prompt"] = WHISPER_PROMPT
    stt = {
        "local": ("media.providers.whisper.WhisperSTT", whisper),
        "whisper": ("media.providers.whisper.WhisperSTT", whisper),
        "pocketsphinx": ("media.providers.pocketsphinx.PocketsphinxSTT", {}),
        "azure": (
            "media.providers.azure_speech.AzureSTT",
            {
                "key": AZURE_SPEECH_KEY,
                "region": AZURE_SPEECH_REGION,
                "endpoint": AZURE_SPEECH_ENDPOINT,
                "resource_id": AZURE_SPEECH_RESOURCE_ID,
            },
        ),
    }
    tts = {
        "local": ("media.providers.local.LocalTTS", {}),
        "azure": ("media.providers.azure_speech.AzureTTS", stt["azure"][1]),
    }
    llm = {
        "rules": ("media.providers.rules.RulesDialogueEngine", {}),
        "azure_openai": (
            "media.providers.openai_llm.AzureOpenAILLM",
            {
                "endpoint": AZURE_OPENAI_ENDPOINT,
                "api_key": AZURE_OPENAI_KEY,
                "api_version": AZURE_OPENAI_API_VERSION,
                "deployment": AZURE_OPENAI_CHAT_DEPLOYMENT,
            },
        ),
        "openai": (
            "media.providers.openai_llm.OpenAICompatibleLLM",
            {"base_url": OPENAI_BASE_URL, "api_key": OPENAI_API_KEY, "model": OPENAI_MODEL},
        ),
    }
    vad = {
        "silero": ("media.providers.vad.SileroVAD", {}),
        "webrtc": ("media.providers.vad.WebRtcVAD", {}),
    }
    choices = {"stt": (stt, STT_PROVIDER), "tts": (tts, TTS_PROVIDER), "llm": (llm, LLM_PROVIDER)}
    choices["vad"] = (vad, VAD_PROVIDER)
    providers = {}
    for kind, (table, choice) in choices.items():
        if choice not in table:
            raise environ.ImproperlyConfigured(
                f"{kind.upper()}_PROVIDER={choice!r} is not one of {', '.join(table)}."
            )
        backend, options = table[choice]
        providers[kind] = {"BACKEND": backend, "OPTIONS": dict(options)}
    if STT_PROVIDER == "azure" or TTS_PROVIDER == "azure":
        if not AZURE_SPEECH_ENDPOINT:
            _require("AZURE_SPEECH_REGION", why="the Azure Speech provider")
        if not AZURE_SPEECH_RESOURCE_ID:
            _require("AZURE_SPEECH_KEY", why="the Azure Speech provider (without managed identity)")
    if LLM_PROVIDER == "azure_openai":
        _require(
            "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_CHAT_DEPLOYMENT", why="LLM_PROVIDER=azure_openai"
        )
    if LLM_PROVIDER == "openai":
        _require("OPENAI_BASE_URL", why="LLM_PROVIDER=openai")
    return providers


SPEECH_PROVIDERS = _speech_providers()


def _realtime_provider() -> dict | None:
    """The voice_live backend (media.providers.realtime); None runs voice_live on the cascade."""
    backend = "media.providers.realtime.RealtimeSession"
    if REALTIME_PROVIDER == "none":
        return None
    if REALTIME_PROVIDER == "azure_voice_live":
        _require("AZURE_VOICE_LIVE_ENDPOINT", why="REALTIME_PROVIDER=azure_voice_live")
        options = {"endpoint": AZURE_VOICE_LIVE_ENDPOINT, "api_key": AZURE_VOICE_LIVE_KEY}
        options["model"] = AZURE_VOICE_LIVE_MODEL
    elif REALTIME_PROVIDER == "openai":
        _require("OPENAI_REALTIME_URL", "OPENAI_API_KEY", why="REALTIME_PROVIDER=openai")
        options = {"url": OPENAI_REALTIME_URL, "api_key": OPENAI_API_KEY}
        options["model"] = OPENAI_REALTIME_MODEL
    else:
        raise environ.ImproperlyConfigured(
            f"REALTIME_PROVIDER={REALTIME_PROVIDER!r} is not one of none, azure_voice_live, openai."
        )
    return {"BACKEND": backend, "OPTIONS": {"provider": REALTIME_PROVIDER, **options}}


REALTIME_SPEECH_PROVIDER = _realtime_provider()

# --- tracing (voiceproject/tracing.py) ------------------------------------------------------
OTEL_EXPORTER = env.str("OTEL_EXPORTER", default="none").lower()  # none | console | otlp
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", default="voice-agent")
APPLICATIONINSIGHTS_CONNECTION_STRING = env.str("APPLICATIONINSIGHTS_CONNECTION_STRING", default="")

# --- TTS worker pool (media/tts_pool.py) ----------------------------------------------------
TTS_POOL_MAX_SIZE = env.int("TTS_POOL_MAX_SIZE", default=64)  # synthesizers per process
TTS_POOL_WARM_VOICES = env.list("TTS_POOL_WARM_VOICES", default=[])  # kept warm ahead of use
TTS_POOL_WARM_PER_VOICE = env.int("TTS_POOL_WARM_PER_VOICE", default=1)
TTS_POOL_ACQUIRE_TIMEOUT_S = env.float("TTS_POOL_ACQUIRE_TIMEOUT_S", default=5.0)
TTS_POOL_MAX_WAITERS = env.int("TTS_POOL_MAX_WAITERS", default=32)
# Synthesized short phrases (greetings, fixed answers; none with digits) kept per process.
TTS_PHRASE_CACHE_MB = env.int("TTS_PHRASE_CACHE_MB", default=32)  # 0: off

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}
