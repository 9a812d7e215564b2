"""Tool calls and handoffs of a turn (a mixin of :class:`~media.engine.turn.Turn`).

History invariant: the assistant message announcing tool calls and one result placeholder per
call are appended together, before any tool runs; each placeholder is then overwritten with
the real result. So the history is consistent at every await, even when a barge-in cancels
the turn mid-tool (the placeholder then says "cancelled", and is updated again if the tool
finishes later in its worker thread).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from media.engine.events import AgentChange, SessionError, ToolEnd, ToolStart
from media.engine.history import tool_result_message
from media.engine.snapshot import AgentSnapshot, ToolContext, ToolSpec
from media.providers.base import ToolCallRequest

if TYPE_CHECKING:
    from media.engine.turn import Turn

CANCELLED_RESULT = {
    "success": False,
    "status": "cancelled",
    "error": "The caller interrupted before this tool finished.",
}


class ToolCallsMixin:
    async def _run_tools(
        self: Turn, agent: AgentSnapshot, calls: list[ToolCallRequest]
    ) -> dict[str, Any] | None:
        """Run the round's tools in order; a handoff runs last. Returns the handoff context.

        A speculative turn waits here for the confirmed end of turn: tools and handoffs change
        the world or the session, so none runs for an utterance the caller may not have ended.
        """
        await self.confirmed()
        handoff: tuple[ToolCallRequest, ToolSpec] | None = None
        for call in calls:
            spec = agent.tool(call.name)
            if spec is not None and spec.is_handoff:
                if handoff is None:
                    handoff = (call, spec)
                else:
                    self._finish_tool(call, {"success": False, "error": "one handoff at a time"})
                continue
            await self._run_tool(agent, call, spec)
        if handoff is None:
            return None
        call, spec = handoff
        return self._handoff(agent, call, spec)

    async def _run_tool(
        self: Turn, agent: AgentSnapshot, call: ToolCallRequest, spec: ToolSpec | None
    ) -> None:
        s = self.s
        pending = self.pending_tools[call.call_id]
        self.emit(
            ToolStart(
                s.session_id, self.turn_id, agent.name, call.call_id, call.name, call.arguments
            )
        )
        if spec is None:
            self._finish_tool(call, {"success": False, "error": f"unknown tool {call.name!r}"})
            return
        context = ToolContext(session_id=s.session_id, agent_name=agent.name, state=s.tool_state)
        pending.future = s.workers.bridge.submit(
            s.run_tool_blocking, call.name, call.arguments, context
        )
        try:
            result = await asyncio.wait_for(asyncio.shield(pending.future), s.config.tool_timeout_s)
        except TimeoutError:
            message = f"tool {call.name} timed out after {s.config.tool_timeout_s:g} s"
            self.emit(SessionError(s.session_id, self.turn_id, stage="tool", message=message))
            result = {"success": False, "error": "The tool timed out."}
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a tool that breaks its contract fails alone
            result = {"success": False, "error": f"{type(exc).__name__}: {exc}"}
        if not isinstance(result, dict):
            result = {"success": True, "result": result}
        self._finish_tool(call, result)

    def _finish_tool(
        self: Turn, call: ToolCallRequest, result: dict[str, Any], status: str | None = None
    ) -> None:
        pending = self.pending_tools.pop(call.call_id, None)
        if pending is None:
            return
        pending.placeholder["content"] = tool_result_message(call.call_id, result)["content"]
        if status is None:
            failed = result.get("success") is False or (
                "error" in result and not result.get("success")
            )
            status = "error" if failed else "success"
        duration_ms = (self.s.loop.time() - pending.started) * 1000
        self.marks.tools.append({"name": call.name, "duration_ms": duration_ms, "status": status})
        self.emit(
            ToolEnd(
                self.s.session_id,
                self.turn_id,
                pending.agent,
                call.call_id,
                call.name,
                status,
                result,
                duration_ms,
            )
        )

    def _handoff(
        self: Turn, agent: AgentSnapshot, call: ToolCallRequest, spec: ToolSpec
    ) -> dict[str, Any] | None:
        s = self.s
        target = spec.handoff_target
        self.emit(
            ToolStart(
                s.session_id, self.turn_id, agent.name, call.call_id, call.name, call.arguments
            )
        )
        if not target or target not in s.roster.agents:
            self._finish_tool(
                call, {"success": False, "error": f"no agent {target!r} to hand over to"}
            )
            return None
        first_visit = s.switch_agent(target)
        context = {k: v for k, v in call.arguments.items() if v not in (None, "")}
        self._finish_tool(
            call,
            {
                "success": True,
                "handoff": True,
                "target_agent": target,
                "message": f"Transferred to {target}.",
                "handoff_context": context,
            },
        )
        reason = str(context.get("reason") or context.get("issue_summary") or call.name)
        self.emit(
            AgentChange(s.session_id, self.turn_id, agent.name, target, spec.silent_handoff, reason)
        )
        new_agent = s.roster.get(target)
        greeting = (
            ""
            if spec.silent_handoff
            else (
                new_agent.greeting
                if first_visit
                else (new_agent.return_greeting or new_agent.greeting)
            )
        )
        if greeting:
            self._say(greeting, target)
        return context or {"from_agent": agent.name}


def late_result(placeholder: dict[str, Any], call_id: str):
    """Record the real result of a tool that finished after the caller interrupted it."""

    def done(fut: asyncio.Future) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        result = (
            {"success": False, "error": f"{type(exc).__name__}: {exc}"} if exc else fut.result()
        )
        if not isinstance(result, dict):
            result = {"success": True, "result": result}
        result = {**result, "completed_after_interruption": True}
        placeholder["content"] = tool_result_message(call_id, result)["content"]

    return done
