"""Tool calls and handoffs of a turn (a mixin of :class:`~media.engine.turn.Turn`).

History invariant: the assistant message announcing tool calls and one result placeholder per
call are appended together, before any tool runs; each placeholder is then overwritten with
the real result. So the history is consistent at every await, even when a barge-in cancels
the turn mid-tool (the placeholder then says "cancelled", and is updated again if the tool
finishes later in its worker thread).

Ending the call: an `ends_call` tool (`end_call`) is finished here, not by the tool runner. The
round's text is the farewell (`DEFAULT_FAREWELL` is said when the LLM wrote none), no further
LLM round runs, and once the turn's audio has been heard (`Turn.finish`, then the pacer's
playback end) `CallEnd` is emitted. A barge-in or a new turn before that keeps the call going.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from media.engine.events import AgentChange, CallEnd, SessionError, ToolEnd, ToolStart
from media.engine.history import tool_result_message
from media.engine.snapshot import AgentSnapshot, ToolContext, ToolSpec
from media.providers.base import ToolCallRequest

if TYPE_CHECKING:
    from media.engine.turn import Turn

logger = logging.getLogger(__name__)

DEFAULT_FAREWELL = "Thank you for calling. Goodbye."
# True whether or not the caller speaks over the farewell: a later turn then shows the call
# went on.
END_CALL_RESULT = {
    "success": True,
    "ends_call": True,
    "message": "The call ends once the farewell has been heard, unless the caller speaks.",
}

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

        An `end_call` wins over a handoff of the same round: the turn then ends with the
        farewell (`call_end` is set) and None is returned.

        A speculative turn waits here for the confirmed end of turn: tools and handoffs change
        the world or the session, so none runs for an utterance the caller may not have ended.
        """
        await self.confirmed()
        handoff: tuple[ToolCallRequest, ToolSpec] | None = None
        ending: ToolCallRequest | None = None
        for call in calls:
            spec = agent.tool(call.name)
            if spec is not None and spec.ends_call:
                if ending is None:
                    ending = call
                else:
                    self._finish_tool(call, {"success": False, "error": "the call is ending"})
                continue
            if spec is not None and spec.is_handoff:
                if handoff is None:
                    handoff = (call, spec)
                else:
                    self._finish_tool(call, {"success": False, "error": "one handoff at a time"})
                continue
            await self._run_tool(agent, call, spec)
        if ending is not None:
            if handoff is not None:
                self._finish_tool(handoff[0], {"success": False, "error": "the call is ending"})
            self._end_call(agent, ending)
            return None
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

    def _end_call(self: Turn, agent: AgentSnapshot, call: ToolCallRequest) -> None:
        """Finish the `end_call` tool and make sure a farewell is said."""
        s = self.s
        self.emit(
            ToolStart(
                s.session_id, self.turn_id, agent.name, call.call_id, call.name, call.arguments
            )
        )
        reason = str(call.arguments.get("reason") or "").strip() or "the caller said goodbye"
        self._finish_tool(call, {**END_CALL_RESULT, "reason": reason})
        announced = next(
            (
                m
                for m in self.messages
                if any(c["id"] == call.call_id for c in m.get("tool_calls") or ())
            ),
            None,
        )
        farewell = str((announced or {}).get("content") or "").strip()
        if not farewell:
            farewell = DEFAULT_FAREWELL
            self._say(farewell, agent.name)
        self.call_end = CallEnd(s.session_id, self.turn_id, reason=reason, farewell=farewell)
        logger.info("session %s: turn %s ends the call (%s)", s.session_id, self.turn_id, reason)

    def _end_call_after_playback(self: Turn) -> None:
        """The farewell's last frame is sent: emit `CallEnd` when the caller has heard it."""
        s = self.s
        s.loop.call_at(max(s.pacer.playing_until, s.loop.time()), self._call_end_due)

    def _call_end_due(self: Turn) -> None:
        s = self.s
        if getattr(s, "_closed", False):  # the transport ended the conversation meanwhile
            return
        if s.turn_id != self.turn_id:  # a barge-in or a new turn: the caller had more to say
            logger.info("session %s: the caller spoke, the call goes on", s.session_id)
            return
        pacer = s.pacer
        if pacer.paused or pacer.is_playing():
            # The caller may be starting to talk (a pause), or playback resumed after one:
            # decide when what was sent has been heard.
            when = max(pacer.playing_until, s.loop.time() + pacer.frame_s)
            s.loop.call_at(when, self._call_end_due)
            return
        s.emitter(self.call_end)


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
