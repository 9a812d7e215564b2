"""The real `openai` client (Azure and OpenAI-compatible) against a loopback SSE server."""

from __future__ import annotations

import pytest

from media.engine.events import AssistantFinal, ToolEnd, TurnMetrics
from media.engine.snapshot import AgentSnapshot, ModelSpec, ToolSpec
from media.providers import build_providers
from media.providers.base import (
    LLMRequest,
    ProviderError,
    TextDelta,
    ToolCallRequest,
    Usage,
)
from media.providers.openai_llm import AzureOpenAILLM, OpenAICompatibleLLM
from tests.media.conftest import Harness, RecordingToolRunner, make_roster
from tests.media.fake_servers import (
    ChatCompletionsServer,
    azure_filter_chunk,
    text_chunks,
    tool_call_chunks,
    usage_chunk,
)

TOOL = ToolSpec(
    "get_account_balance",
    "Look up a balance.",
    {
        "type": "object",
        "properties": {"account_id": {"type": "string", "x-ask": "Which account?"}},
        "required": ["account_id"],
    },
)


@pytest.fixture
def server():
    with ChatCompletionsServer() as s:
        yield s


def request(**kwargs) -> LLMRequest:
    agent = AgentSnapshot("A", model=ModelSpec(temperature=0.2, top_p=0.9, max_tokens=99))
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "balance of 42"},
    ]
    return LLMRequest("s1", agent, messages, (TOOL,), **kwargs)


async def collect(llm, req) -> list:
    return [event async for event in llm.stream(req)]


async def test_openai_compatible_streams_text_and_tool_calls(server):
    server.replies = [
        ("sse", tool_call_chunks("call_9", "get_account_balance", {"account_id": "42"},
                                 text="Checking.") + [usage_chunk(20, 7)]),
    ]  # fmt: skip
    llm = OpenAICompatibleLLM(base_url=server.url + "/v1", api_key="sk-test", model="m1")
    events = await collect(llm, request())
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Checking."]
    calls = [e for e in events if isinstance(e, ToolCallRequest)]
    assert calls == [
        ToolCallRequest(
            "call_9", "get_account_balance", {"account_id": "42"}, '{"account_id": "42"}'
        )
    ]
    assert Usage(20, 7) in events
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["authorization"] == "Bearer sk-test"
    body = sent["body"]
    assert body["model"] == "m1" and body["stream"] is True
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.2, 0.9, 99)
    # Vendor extensions never reach the API.
    assert "x-ask" not in str(body["tools"])
    assert body["tools"][0]["function"]["name"] == "get_account_balance"
    await llm.close()


async def test_azure_openai_deployment_path_key_and_filter_chunks(server):
    server.replies = [("sse", [azure_filter_chunk(), *text_chunks("Hello", " there.")])]
    llm = AzureOpenAILLM(
        endpoint=server.url, deployment="gpt4o", api_key="k1", api_version="2024-10-21"
    )
    events = await collect(llm, request())
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello there."
    sent = server.requests[0]
    assert sent["path"] == "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
    assert sent["headers"]["api-key"] == "k1"
    await llm.close()


async def test_client_and_connection_reused_across_turns(server):
    llm = OpenAICompatibleLLM(base_url=server.url + "/v1", model="m")
    await collect(llm, request())
    client = llm.client
    await collect(llm, request())
    assert llm.client is client
    assert len(server.requests) == 2 and len(server.connections) == 1


async def test_transient_errors_are_retried_with_backoff(server):
    server.replies = [
        ("error", 429, {"error": {"message": "slow down"}}, {"retry-after": "0"}),
        ("error", 503, {"error": {"message": "busy"}}, {}),
        ("sse", text_chunks("Finally.")),
    ]
    llm = OpenAICompatibleLLM(base_url=server.url + "/v1", model="m", retry_base_delay_s=0.01)
    events = await collect(llm, request())
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Finally."]
    assert len(server.requests) == 3


async def test_no_retry_once_audio_started_or_on_client_errors(server):
    server.replies = [("error", 429, {"error": {"message": "slow down"}}, {"retry-after": "0"})]
    llm = OpenAICompatibleLLM(base_url=server.url + "/v1", model="m")
    with pytest.raises(ProviderError) as caught:
        await collect(llm, request(can_retry=lambda: False))
    assert caught.value.transient and len(server.requests) == 1
    server.replies = [("error", 400, {"error": {"message": "bad"}}, {})]
    with pytest.raises(ProviderError, match="400"):
        await collect(llm, request())
    assert len(server.requests) == 2


async def test_missing_configuration_names_the_variable():
    providers = build_providers(
        {
            "llm": {"BACKEND": "media.providers.openai_llm.AzureOpenAILLM",
                    "OPTIONS": {"endpoint": "", "deployment": ""}},
            "stt": {"BACKEND": "media.providers.fakes.ScriptedSTT"},
            "tts": {"BACKEND": "media.providers.fakes.FakeTTS"},
            "vad": {"BACKEND": "media.providers.fakes.EnergyVAD"},
        }
    )  # fmt: skip
    assert providers.check()["llm"] == {
        "ok": False,
        "backend": "media.providers.openai_llm.AzureOpenAILLM",
        "detail": "AZURE_OPENAI_ENDPOINT is not set",
    }
    h = Harness(llm=providers.create().llm)
    from media.engine.session import SessionStartError

    with pytest.raises(SessionStartError, match="AZURE_OPENAI_ENDPOINT is not set"):
        await h.session.start()
    assert "OPENAI_BASE_URL" in OpenAICompatibleLLM.check().detail


async def test_engine_turn_with_tool_loop_over_the_real_client(server):
    server.replies = [
        ("sse", tool_call_chunks("call_1", "get_account_balance", {"account_id": "7"})),
        ("sse", text_chunks("Your balance ", "is 42 dollars.") + [usage_chunk(50, 6)]),
    ]
    llm = OpenAICompatibleLLM(base_url=server.url + "/v1", model="m")
    tools = RecordingToolRunner({"get_account_balance": {"success": True, "balance": 42}})
    async with Harness(llm=llm, tool_runner=tools, roster=make_roster()) as h:
        await h.wait_event(AssistantFinal, is_greeting=True)
        await h.session.send_text("what is the balance of account 7")
        end = await h.wait_event(ToolEnd)
        assert tools.calls == [("get_account_balance", {"account_id": "7"})]
        answer = await h.wait_event(AssistantFinal, turn_id=end.turn_id)
        assert answer.text == "Your balance is 42 dollars."
        metrics = await h.wait_event(TurnMetrics, turn_id=end.turn_id)
        assert (metrics.tokens_in, metrics.tokens_out) == (50, 6)
        # The second request carried the tool call and its result, as the API expects.
        second = server.requests[1]["body"]["messages"]
        assert second[-2]["tool_calls"][0]["id"] == "call_1"
        assert second[-1] == {
            "role": "tool", "tool_call_id": "call_1", "content": '{"success": true, "balance": 42}'
        }  # fmt: skip
