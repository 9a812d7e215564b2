"""OpenTelemetry: exporter set-up, trace context from HTTP/WebSocket requests, and turn spans.

Exporters are chosen by `OTEL_EXPORTER` (`none` default, `console`, `otlp`; OTLP over HTTP to
`OTEL_EXPORTER_OTLP_ENDPOINT`). When `APPLICATIONINSIGHTS_CONNECTION_STRING` is set, spans
also go to Azure Monitor, provided `azure-monitor-opentelemetry-exporter` is installed (it is
not a requirement of the project).

Spans are never created on the audio path: the engine reports a finished turn as a
`TurnMetrics` event and :func:`record_turn` rebuilds the turn's span tree afterwards, with start
and end times placed from the measured latencies. The tree is

    voice.session                      (session id, call connection id, transport)
      invoke_agent <agent>             one per turn (GenAI semantic conventions)
        voice.stt                      end of speech → STT final
        chat                           LLM call: first-token event, token usage
          execute_tool <name>          each tool call with its duration
        voice.tts                      TTS request → end of the turn; first-audio event
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

logger = logging.getLogger(__name__)

TRACER_NAME = "voiceproject"
EXPORTERS = ("none", "console", "otlp")

_lock = threading.Lock()
_provider: TracerProvider | None = None
_configured = False
_propagator = TraceContextTextMapPropagator()


class TracingConfigError(RuntimeError):
    """The tracing environment asks for something that cannot be set up."""


def _azure_monitor_exporter(connection_string: str):
    try:
        from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter
    except ImportError as exc:
        raise TracingConfigError(
            "APPLICATIONINSIGHTS_CONNECTION_STRING is set but the Azure Monitor exporter is not "
            "installed: pip install azure-monitor-opentelemetry-exporter"
        ) from exc
    return AzureMonitorTraceExporter(connection_string=connection_string)


def build_provider(
    *,
    exporter: str = "none",
    otlp_endpoint: str = "",
    azure_connection_string: str = "",
    service_name: str = "voice-agent",
    service_version: str = "",
) -> TracerProvider | None:
    """A tracer provider with the chosen exporters, or None when nothing is exported."""
    exporter = (exporter or "none").lower()
    if exporter not in EXPORTERS:
        raise TracingConfigError(f"OTEL_EXPORTER={exporter!r} is not one of {', '.join(EXPORTERS)}")
    if exporter == "none" and not azure_connection_string:
        return None
    resource = Resource.create({"service.name": service_name, "service.version": service_version})
    provider = TracerProvider(resource=resource)
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/")
        if endpoint and not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint or None)))
    if azure_connection_string:
        provider.add_span_processor(
            BatchSpanProcessor(_azure_monitor_exporter(azure_connection_string))
        )
    return provider


def configure_from_settings() -> None:
    """Install the exporters named by the settings, once per process (called at app start)."""
    global _configured
    from django.conf import settings

    with _lock:
        if _configured:
            return
        _configured = True
    provider = build_provider(
        exporter=settings.OTEL_EXPORTER,
        otlp_endpoint=settings.OTEL_EXPORTER_OTLP_ENDPOINT,
        azure_connection_string=settings.APPLICATIONINSIGHTS_CONNECTION_STRING,
        service_name=settings.OTEL_SERVICE_NAME,
        service_version=settings.VERSION,
    )
    if provider is not None:
        use_provider(provider)
        trace.set_tracer_provider(provider)
        logger.info("tracing: exporting spans (OTEL_EXPORTER=%s)", settings.OTEL_EXPORTER)


def use_provider(provider: TracerProvider | None) -> None:
    """Send this module's spans to `provider` (tests pass one with an in-memory exporter)."""
    global _provider
    _provider = provider


def tracer() -> trace.Tracer:
    if _provider is not None:
        return _provider.get_tracer(TRACER_NAME)
    return trace.get_tracer(TRACER_NAME)


# --- trace context from requests ------------------------------------------------------------


def context_from_headers(headers: Mapping[str, str]) -> otel_context.Context:
    """The W3C trace context (`traceparent`, `tracestate`) carried by request headers."""
    carrier = {k.lower(): v for k, v in headers.items()}
    return _propagator.extract(carrier)


def context_from_scope(scope: Mapping[str, Any]) -> otel_context.Context:
    """The W3C trace context of an ASGI HTTP or WebSocket scope (its raw byte headers)."""
    carrier: dict[str, str] = {}
    raw: Iterable[tuple[bytes, bytes]] = scope.get("headers") or ()
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key in ("traceparent", "tracestate"):
            carrier[key] = value.decode("latin-1")
    return _propagator.extract(carrier)


# --- sessions and turns ---------------------------------------------------------------------

_MS = 1_000_000  # nanoseconds per millisecond


def start_session_span(
    *,
    session_id: str,
    transport: str,
    call_connection_id: str | None = None,
    streaming_mode: str = "",
    parent: otel_context.Context | None = None,
    start_time_ns: int | None = None,
) -> Span:
    """The long-lived span of one conversation; end it with :func:`end_session_span`."""
    attributes = {
        "session.id": session_id,
        "gen_ai.conversation.id": session_id,
        "voice.transport": transport,
    }
    if call_connection_id:
        attributes["call.connection_id"] = call_connection_id
    if streaming_mode:
        attributes["voice.streaming_mode"] = streaming_mode
    return tracer().start_span(
        "voice.session",
        context=parent,
        kind=SpanKind.SERVER,
        attributes=attributes,
        start_time=start_time_ns or time.time_ns(),
    )


def end_session_span(span: Span, *, status: str, end_time_ns: int | None = None) -> None:
    span.set_attribute("voice.session.status", status)
    if status not in ("completed", "active"):
        span.set_status(Status(StatusCode.ERROR, status))
    span.end(end_time=end_time_ns or time.time_ns())


def _measured_end_ms(metrics: Any) -> float:
    """How long after end of speech the last measured stage ended."""
    ends = [0.0]
    stt = metrics.stt_final_ms or 0.0
    ends.append(stt)
    if metrics.llm_total_ms is not None:
        ends.append(stt + metrics.llm_total_ms)
    if metrics.first_audio_ms is not None:
        ends.append(metrics.first_audio_ms)
    return max(ends)


def record_turn(
    metrics: Any,
    *,
    session_id: str,
    turn_index: int,
    call_connection_id: str | None = None,
    parent: Span | otel_context.Context | None = None,
    end_of_speech_ns: int | None = None,
    recorded_at_ns: int | None = None,
) -> Span:
    """Rebuild one finished turn as a span tree from its `TurnMetrics` (already ended spans).

    Times are placed relative to the end of the user's speech: `end_of_speech_ns` when the
    caller knows it; otherwise the turn is anchored so that its last measured stage ended when
    the event was recorded (`recorded_at_ns`, default now). Stages follow the engine's
    definitions: STT runs from end of speech to the final; the LLM starts at the final; TTS
    starts `tts_ttfb_ms` before the first audio frame; tools run one after another inside the
    LLM span from its first token unless a call carries its own `start_ms` (from end of speech).
    """
    recorded_at_ns = recorded_at_ns or time.time_ns()
    measured_ms = _measured_end_ms(metrics)
    if end_of_speech_ns is None:
        end_of_speech_ns = recorded_at_ns - int(measured_ms * _MS)
    turn_end_ns = max(recorded_at_ns, end_of_speech_ns + int(measured_ms * _MS))

    def at(offset_ms: float) -> int:
        return end_of_speech_ns + int(offset_ms * _MS)

    parent_ctx = trace.set_span_in_context(parent) if isinstance(parent, Span) else parent
    t = tracer()
    agent = metrics.agent or "unknown"
    turn_attrs: dict[str, Any] = {
        "session.id": session_id,
        "gen_ai.conversation.id": session_id,
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": agent,
        "voice.turn.index": turn_index,
        "voice.turn.id": metrics.turn_id,
        "voice.turn.interrupted": bool(metrics.interrupted),
        "gen_ai.usage.input_tokens": metrics.tokens_in,
        "gen_ai.usage.output_tokens": metrics.tokens_out,
    }
    if call_connection_id:
        turn_attrs["call.connection_id"] = call_connection_id
    for name in ("stt_final", "llm_ttft", "llm_total", "tts_ttfb", "first_audio", "barge_in"):
        value = getattr(metrics, f"{name}_ms")
        if value is not None:
            turn_attrs[f"voice.latency.{name}_ms"] = float(value)
    turn = t.start_span(
        f"invoke_agent {agent}",
        context=parent_ctx,
        kind=SpanKind.INTERNAL,
        attributes=turn_attrs,
        start_time=end_of_speech_ns,
    )
    turn_ctx = trace.set_span_in_context(turn)
    common = {"session.id": session_id, "voice.turn.index": turn_index}

    stt_ms = metrics.stt_final_ms or 0.0
    if metrics.stt_final_ms is not None:
        span = t.start_span(
            "voice.stt", context=turn_ctx, attributes=common, start_time=end_of_speech_ns
        )
        span.end(end_time=at(stt_ms))

    if metrics.llm_total_ms is not None or metrics.llm_ttft_ms is not None:
        llm_total = metrics.llm_total_ms
        if llm_total is None:
            llm_total = metrics.llm_ttft_ms
        llm_attrs = {
            **common,
            "gen_ai.operation.name": "chat",
            "gen_ai.agent.name": agent,
            "gen_ai.usage.input_tokens": metrics.tokens_in,
            "gen_ai.usage.output_tokens": metrics.tokens_out,
        }
        llm = t.start_span("chat", context=turn_ctx, attributes=llm_attrs, start_time=at(stt_ms))
        if metrics.llm_ttft_ms is not None:
            llm.add_event("gen_ai.first_token", timestamp=at(stt_ms + metrics.llm_ttft_ms))
        llm_ctx = trace.set_span_in_context(llm)
        cursor_ms = stt_ms + (metrics.llm_ttft_ms or 0.0)
        for call in metrics.tool_calls or ():
            duration_ms = float(call.get("duration_ms") or 0.0)
            start_ms = float(call.get("start_ms", cursor_ms))
            tool_name = str(call.get("name") or call.get("tool") or "tool")
            tool_attrs = {
                **common,
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool_name,
                "voice.tool.duration_ms": duration_ms,
                "voice.tool.status": str(call.get("status", "")),
            }
            if call.get("call_id"):
                tool_attrs["gen_ai.tool.call.id"] = str(call["call_id"])
            tool = t.start_span(
                f"execute_tool {tool_name}",
                context=llm_ctx,
                attributes=tool_attrs,
                start_time=at(start_ms),
            )
            if call.get("status") == "error":
                tool.set_status(Status(StatusCode.ERROR, "tool failed"))
            tool.end(end_time=at(start_ms + duration_ms))
            cursor_ms = start_ms + duration_ms
        llm.end(end_time=at(max(stt_ms + llm_total, cursor_ms)))

    if metrics.first_audio_ms is not None or metrics.tts_ttfb_ms is not None:
        first_audio_ms = metrics.first_audio_ms
        ttfb_ms = metrics.tts_ttfb_ms or 0.0
        if first_audio_ms is None:
            first_audio_ms = stt_ms + (metrics.llm_ttft_ms or 0.0) + ttfb_ms
        tts_attrs = {**common, "voice.latency.tts_ttfb_ms": ttfb_ms}
        tts = t.start_span(
            "voice.tts",
            context=turn_ctx,
            attributes=tts_attrs,
            start_time=at(max(first_audio_ms - ttfb_ms, 0.0)),
        )
        tts.add_event("voice.first_audio", timestamp=at(first_audio_ms))
        if metrics.interrupted:
            tts.add_event("voice.barge_in", timestamp=turn_end_ns)
        tts.end(end_time=turn_end_ns)

    turn.end(end_time=turn_end_ns)
    return turn
