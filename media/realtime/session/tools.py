"""Tool calls and handoffs of a realtime conversation (:class:`RealtimeTools`).

Tools run in the worker pool as their `function_call_arguments.done` arrives; at
`response.done` their outputs are sent in call order, then the handoff (at most one per
response) switches agent with a `session.update`, and the next response is requested.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from media.engine.events import AgentChange, ToolEnd, ToolStart
from media.engine.history import tool_call_message, tool_result_message
from media.engine.snapshot import ToolContext
from media.realtime.session.state import ResponseState, TurnState

if TYPE_CHECKING:
    from media.realtime.session.turns import RealtimeHost, RealtimeTurns


class RealtimeTools:
    """Runs the tools the service asks for, sends their outputs, and switches agent on a
    handoff. Reaches the session through :class:`~media.realtime.session.turns.RealtimeHost`
    and the responses through :class:`~media.realtime.session.turns.RealtimeTurns`.

    Threading: loop only; the tools themselves run in the worker pool (`submit_tool`).
    """

    def __init__(self, host: RealtimeHost, turns: RealtimeTurns) -> None:
        self.host = host
        self.turns = turns

    def on_function_call_done(self, event: dict[str, Any]) -> None:
        host = self.host
        response = self.turns.response_for(event)
        if response is None:
            return
        self.turns.mark_first_delta(response)
        call_id = str(event.get("call_id") or "")
        name = str(event.get("name") or "")
        raw = event.get("arguments") or "{}"
        try:
            arguments = json.loads(raw) if isinstance(raw, str) else dict(raw)
            if not isinstance(arguments, dict):
                raise ValueError("arguments are not an object")
        except ValueError:
            arguments = {}
        response.calls.append((call_id, name, arguments))
        response.tool_started[call_id] = host.loop.time()
        agent = host.roster.get(response.agent)
        spec = agent.tool(name)
        host.emitter(
            ToolStart(host.session_id, response.turn_id, response.agent, call_id, name, arguments)
        )
        if spec is not None and spec.is_handoff:
            return  # runs at response.done, after the other tools of the response
        if spec is None:
            future = host.loop.create_future()
            future.set_result({"success": False, "error": f"unknown tool {name!r}"})
        else:
            context = ToolContext(host.session_id, response.agent, host.tool_state)
            future = host.submit_tool(name, arguments, context)
        response.tool_jobs[call_id] = future

    async def finish(self, response: ResponseState, turn: TurnState) -> None:
        """Send each tool's output, switch agent on a handoff, then ask for the next response."""
        host = self.host
        calls = [tool_call_message(response.text, [(c, n, a) for c, n, a in response.calls])]
        self.turns.append_history(calls[0])
        handoff: tuple[str, str, dict[str, Any]] | None = None
        for call_id, name, arguments in response.calls:
            spec = host.roster.get(response.agent).tool(name)
            if spec is not None and spec.is_handoff:
                if handoff is None:
                    handoff = (call_id, name, arguments)
                else:
                    self._tool_output(turn, response, call_id, name, {"error": "one at a time"})
                continue
            job = response.tool_jobs[call_id]
            try:
                result = await asyncio.wait_for(asyncio.shield(job), host.config.tool_timeout_s)
            except TimeoutError:
                result = {"success": False, "error": "The tool timed out."}
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a tool failure is the model's to handle
                result = {"success": False, "error": f"{type(exc).__name__}: {exc}"}
            if not isinstance(result, dict):
                result = {"success": True, "result": result}
            if turn.finished or host.closed:
                return
            self._tool_output(turn, response, call_id, name, result)
        greeting = ""
        if handoff is not None:
            greeting = self._handoff(turn, response, *handoff)
        if turn.finished or host.closed:
            return
        if greeting:
            host.say(greeting)
        else:
            host.send({"type": "response.create"})

    def _tool_output(
        self,
        turn: TurnState,
        response: ResponseState,
        call_id: str,
        name: str,
        result: dict,
    ) -> None:
        host = self.host
        failed = result.get("success") is False or ("error" in result and not result.get("success"))
        status = "error" if failed else "success"
        started = response.tool_started.get(call_id, host.loop.time())
        duration_ms = (host.loop.time() - started) * 1000.0
        turn.tools.append({"name": name, "duration_ms": duration_ms, "status": status})
        host.emitter(
            ToolEnd(
                host.session_id, turn.turn_id, response.agent, call_id, name, status, result,
                duration_ms,
            )
        )  # fmt: skip
        message = tool_result_message(call_id, result)
        self.turns.append_history(message)
        host.send(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": call_id,
                    "output": message["content"],
                },
            }
        )

    def _handoff(
        self,
        turn: TurnState,
        response: ResponseState,
        call_id: str,
        name: str,
        arguments: dict[str, Any],
    ) -> str:
        """Switch to the handoff's target agent with a session update; returns its greeting."""
        host = self.host
        previous = response.agent
        spec = host.roster.get(previous).tool(name)
        target = spec.handoff_target if spec else None
        if not target or target not in host.roster.agents:
            self._tool_output(
                turn, response, call_id, name, {"success": False, "error": f"no agent {target!r}"}
            )
            return ""
        first_visit = host.switch_agent(target)
        context = {k: v for k, v in arguments.items() if v not in (None, "")}
        details = ", ".join(f"{k}: {v}" for k, v in context.items())
        suffix = (
            f"The caller was just transferred to you from {previous} ({details})."
            if details
            else f"The caller was just transferred to you from {previous}."
        )
        agent = host.roster.get(target)
        host.send(host.session_update(agent, suffix))
        self._tool_output(
            turn,
            response,
            call_id,
            name,
            {
                "success": True,
                "handoff": True,
                "target_agent": target,
                "message": f"Transferred to {target}.",
                "handoff_context": context,
            },
        )
        reason = str(context.get("reason") or context.get("issue_summary") or name)
        host.emitter(
            AgentChange(
                host.session_id, turn.turn_id, previous, target, spec.silent_handoff, reason
            )
        )
        if spec.silent_handoff:
            return ""
        return agent.greeting if first_visit else (agent.return_greeting or agent.greeting)
