"""Session and turn spans, rebuilt from TurnMetrics, checked in an in-memory exporter."""

from __future__ import annotations

import asyncio
import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from metrics import services
from tests.metrics.conftest import turn_metrics
from voiceproject import tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    yield exporter
    tracing.use_provider(None)


def _ms(span) -> float:
    return (span.end_time - span.start_time) / 1e6


def test_trace_context_comes_from_the_asgi_scope_headers():
    scope = {"type": "websocket", "headers": [(b"traceparent", TRACEPARENT.encode())]}
    from opentelemetry import trace

    span_context = trace.get_current_span(tracing.context_from_scope(scope)).get_span_context()
    assert format(span_context.trace_id, "032x") == TRACE_ID
    assert span_context.is_remote
    empty = trace.get_current_span(tracing.context_from_scope({"headers": []}))
    assert not empty.get_span_context().is_valid


async def _traced_call(end_of_speech: float) -> None:
    scope = {"type": "websocket", "headers": [(b"traceparent", TRACEPARENT.encode())]}
    services.session_open(
        session_id="traced",
        transport="acs",
        call_connection_id="call-42",
        trace_context=tracing.context_from_scope(scope),
    )
    services.turn_record(
        session_id="traced",
        end_of_speech_at=end_of_speech,
        metrics=turn_metrics(
            "traced",
            1,
            agent="FraudAgent",
            stt_final_ms=120.0,
            llm_ttft_ms=80.0,
            llm_total_ms=400.0,
            tts_ttfb_ms=60.0,
            first_audio_ms=300.0,
            tokens_in=321,
            tokens_out=45,
            tool_calls=[
                {"name": "check_card", "duration_ms": 50.0, "status": "success"},
                {"name": "block_card", "duration_ms": 30.0, "status": "error"},
            ],
        ),
    )
    services.session_close(session_id="traced")
    await services.flush()


@pytest.mark.django_db(transaction=True)
def test_a_session_becomes_a_span_tree_with_stage_timings(spans):
    end_of_speech = time.time() - 2.0
    asyncio.run(_traced_call(end_of_speech))

    by_name = {span.name: span for span in spans.get_finished_spans()}
    session = by_name["voice.session"]
    turn = by_name["invoke_agent FraudAgent"]
    stt, llm, tts = by_name["voice.stt"], by_name["chat"], by_name["voice.tts"]
    check, block = by_name["execute_tool check_card"], by_name["execute_tool block_card"]

    # One trace, continuing the request's traceparent.
    for span in by_name.values():
        assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(session.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert turn.parent.span_id == session.context.span_id
    for child in (stt, llm, tts):
        assert child.parent.span_id == turn.context.span_id
    assert check.parent.span_id == llm.context.span_id == block.parent.span_id

    assert session.attributes["session.id"] == "traced"
    assert session.attributes["call.connection_id"] == "call-42"
    assert turn.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert turn.attributes["gen_ai.agent.name"] == "FraudAgent"
    assert turn.attributes["gen_ai.conversation.id"] == "traced"
    assert turn.attributes["call.connection_id"] == "call-42"
    assert llm.attributes["gen_ai.usage.input_tokens"] == 321
    assert llm.attributes["gen_ai.usage.output_tokens"] == 45
    assert check.attributes["gen_ai.tool.name"] == "check_card"

    # Stage times come from the measured latencies, placed from the end of speech.
    eos_ns = int(end_of_speech * 1e9)
    assert turn.start_time == pytest.approx(eos_ns, abs=1e6)
    assert _ms(stt) == pytest.approx(120.0, abs=0.01)
    assert (llm.start_time - eos_ns) / 1e6 == pytest.approx(120.0, abs=0.01)
    assert _ms(llm) == pytest.approx(400.0, abs=0.01)
    first_token = next(e for e in llm.events if e.name == "gen_ai.first_token")
    assert (first_token.timestamp - llm.start_time) / 1e6 == pytest.approx(80.0, abs=0.01)
    assert _ms(check) == pytest.approx(50.0, abs=0.01)
    assert block.start_time == check.end_time  # tools run one after the other
    assert block.status.status_code.name == "ERROR"
    first_audio = next(e for e in tts.events if e.name == "voice.first_audio")
    assert (first_audio.timestamp - eos_ns) / 1e6 == pytest.approx(300.0, abs=0.01)
    assert (first_audio.timestamp - tts.start_time) / 1e6 == pytest.approx(60.0, abs=0.01)
    assert turn.end_time >= tts.end_time
    assert session.end_time >= turn.end_time


def test_without_end_of_speech_the_turn_ends_when_recorded(spans):
    recorded = time.time_ns()
    tracing.record_turn(
        turn_metrics("s", 3, stt_final_ms=100.0, llm_total_ms=200.0, first_audio_ms=250.0),
        session_id="s",
        turn_index=3,
        recorded_at_ns=recorded,
    )
    turn = next(s for s in spans.get_finished_spans() if s.name.startswith("invoke_agent"))
    assert turn.end_time == recorded
    assert _ms(turn) == pytest.approx(300.0, abs=0.01)  # STT 100 + LLM 200
    assert turn.parent is None


def test_exporters_are_chosen_by_name():
    assert tracing.build_provider(exporter="none") is None
    assert isinstance(tracing.build_provider(exporter="console"), TracerProvider)
    otlp = tracing.build_provider(exporter="otlp", otlp_endpoint="http://127.0.0.1:4318")
    assert isinstance(otlp, TracerProvider)
    otlp.shutdown()
    with pytest.raises(tracing.TracingConfigError, match="OTEL_EXPORTER"):
        tracing.build_provider(exporter="zipkin")


def test_azure_monitor_without_its_package_is_a_clear_error():
    try:
        import azure.monitor.opentelemetry.exporter  # noqa: F401
    except ImportError:
        with pytest.raises(tracing.TracingConfigError, match="azure-monitor-opentelemetry"):
            tracing.build_provider(azure_connection_string="InstrumentationKey=00000000")
    else:
        pytest.skip("azure-monitor-opentelemetry-exporter is installed")
