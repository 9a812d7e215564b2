"""Tool calls and handoffs of a turn: :class:`ToolCalls`, owned by the turn.

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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from media.engine.events import AgentChange, CallEnd, SessionError, ToolEnd, ToolStart
from media.engine.history import tool_result_message
from media.engine.snapshot import AgentSnapshot, ToolContext, ToolSpec
from media.providers.base import ToolCallRequest

if TYPE_CHECKING:
    from media.engine.turn import Turn, TurnHost

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


@dataclass(slots=True)
class _PendingTool:
    name: str
    agent: str
    placeholder: dict[str, Any]  # the history entry the result is written into
    started: float
    future: asyncio.Future | None = None


class ToolCalls:
    """The tool calls of one turn, from their placeholders to their results (or cancellation).

    The turn announces each round's calls (:meth:`placeholder`), then awaits :meth:`run`;
    events go out through the turn (`Turn.emit`: held while speculative, none once cancelled),
    a fixed text is spoken with `Turn.say`, and every finished call is logged in the turn's
    metrics. The session is reached only through the turn's
    :class:`~media.engine.turn.TurnHost`.
    """

    def __init__(self, host: TurnHost, turn: Turn) -> None:
        self.host = host
        self.turn = turn
        self.pending: dict[str, _PendingTool] = {}
        self.call_end: CallEnd | None = None  # set by `end_call`; emitted after the farewell

    def placeholder(self, call: ToolCallRequest, agent: str) -> dict[str, Any]:
        """The history entry standing for `call`'s result ("cancelled" until it finishes)."""
        placeholder = tool_result_message(call.call_id, CANCELLED_RESULT)
        self.pending[call.call_id] = _PendingTool(
            call.name, agent, placeholder, self.host.loop.time()
        )
        return placeholder

    async def run(
        self, agent: AgentSnapshot, calls: list[ToolCallRequest], announced: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Run the round's tools in order; a handoff runs last. Returns the handoff context.

        `announced`: the assistant message announcing the calls (its text is the farewell of
        an `end_call`). An `end_call` wins over a handoff of the same round: the turn then ends
        with the farewell (`call_end` is set) and None is returned.

        A speculative turn waits here for the confirmed end of turn: tools and handoffs change
        the world or the session, so none runs for an utterance the caller may not have ended.
        """
        await self.turn.confirmed()
        handoff: tuple[ToolCallRequest, ToolSpec] | None = None
        ending: ToolCallRequest | None = None
        for call in calls:
            spec = agent.tool(call.name)
            if spec is not None and spec.ends_call:
                if ending is None:
                    ending = call
                else:
                    self._finish(call, {"success": False, "error": "the call is ending"})
                continue
            if spec is not None and spec.is_handoff:
                if handoff is None:
                    handoff = (call, spec)
                else:
                    self._finish(call, {"success": False, "error": "one handoff at a time"})
                continue
            await self._run_tool(agent, call, spec)
        if ending is not None:
            if handoff is not None:
                self._finish(handoff[0], {"success": False, "error": "the call is ending"})
            self._end_call(agent, ending, announced)
            return None
        if handoff is None:
            return None
        call, spec = handoff
        return self._handoff(agent, call, spec)

    def _started(self, agent: AgentSnapshot, call: ToolCallRequest) -> None:
        self.turn.emit(
            ToolStart(
                self.host.session_id,
                self.turn.turn_id,
                agent.name,
                call.call_id,
                call.name,
                call.arguments,
            )
        )

    async def _run_tool(
        self, agent: AgentSnapshot, call: ToolCallRequest, spec: ToolSpec | None
    ) -> None:
        host = self.host
        pending = self.pending[call.call_id]
        self._started(agent, call)
        if spec is None:
            self._finish(call, {"success": False, "error": f"unknown tool {call.name!r}"})
            return
        context = ToolContext(
            session_id=host.session_id, agent_name=agent.name, state=host.tool_state
        )
        pending.future = host.submit_tool(call.name, call.arguments, context)
        timeout_s = host.config.tool_timeout_s
        try:
            result = await asyncio.wait_for(asyncio.shield(pending.future), timeout_s)
        except TimeoutError:
            message = f"tool {call.name} timed out after {timeout_s:g} s"
            self.turn.emit(
                SessionError(host.session_id, self.turn.turn_id, stage="tool", message=message)
            )
            result = {"success": False, "error": "The tool timed out."}
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a tool that breaks its contract fails alone
            result = {"success": False, "error": f"{type(exc).__name__}: {exc}"}
        if not isinstance(result, dict):
            result = {"success": True, "result": result}
        self._finish(call, result)

    def _finish(self, call: ToolCallRequest, result: dict[str, Any]) -> None:
        pending = self.pending.pop(call.call_id, None)
        if pending is None:
            return
        pending.placeholder["content"] = tool_result_message(call.call_id, result)["content"]
        failed = result.get("success") is False or ("error" in result and not result.get("success"))
        status = "error" if failed else "success"
        duration_ms = (self.host.loop.time() - pending.started) * 1000
        self.turn.marks.tools.append(
            {"name": call.name, "duration_ms": duration_ms, "status": status}
        )
        self.turn.emit(
            ToolEnd(
                self.host.session_id,
                self.turn.turn_id,
                pending.agent,
                call.call_id,
                call.name,
                status,
                result,
                duration_ms,
            )
        )

    def cancel_pending(self, now: float) -> None:
        """Barge-in: close every call still running as cancelled (emitted even though the
        turn is cancelled); a result that comes later is still written into its placeholder."""
        host = self.host
        for call_id, pending in list(self.pending.items()):
            self.pending.pop(call_id)
            duration_ms = (now - pending.started) * 1000
            host.emitter(
                ToolEnd(
                    host.session_id,
                    self.turn.turn_id,
                    pending.agent,
                    call_id,
                    pending.name,
                    "cancelled",
                    dict(CANCELLED_RESULT),
                    duration_ms,
                )
            )
            self.turn.marks.tools.append(
                {"name": pending.name, "duration_ms": duration_ms, "status": "cancelled"}
            )
            if pending.future is not None:
                pending.future.add_done_callback(late_result(pending.placeholder, call_id))

    def _handoff(
        self, agent: AgentSnapshot, call: ToolCallRequest, spec: ToolSpec
    ) -> dict[str, Any] | None:
        host = self.host
        target = spec.handoff_target
        self._started(agent, call)
        if not target or target not in host.roster.agents:
            self._finish(call, {"success": False, "error": f"no agent {target!r} to hand over to"})
            return None
        first_visit = host.switch_agent(target)
        context = {k: v for k, v in call.arguments.items() if v not in (None, "")}
        self._finish(
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
        self.turn.emit(
            AgentChange(
                host.session_id, self.turn.turn_id, agent.name, target, spec.silent_handoff, reason
            )
        )
        new_agent = host.roster.get(target)
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
            self.turn.say(greeting, target)
        return context or {"from_agent": agent.name}

    def _end_call(
        self, agent: AgentSnapshot, call: ToolCallRequest, announced: dict[str, Any]
    ) -> None:
        """Finish the `end_call` tool and make sure a farewell is said."""
        host = self.host
        turn_id = self.turn.turn_id
        self._started(agent, call)
        reason = str(call.arguments.get("reason") or "").strip() or "the caller said goodbye"
        self._finish(call, {**END_CALL_RESULT, "reason": reason})
        farewell = str(announced.get("content") or "").strip()
        if not farewell:
            farewell = DEFAULT_FAREWELL
            self.turn.say(farewell, agent.name)
        self.call_end = CallEnd(host.session_id, turn_id, reason=reason, farewell=farewell)
        logger.info("session %s: turn %s ends the call (%s)", host.session_id, turn_id, reason)

    def end_call_after_playback(self) -> None:
        """The farewell's last frame is sent: emit `CallEnd` when the caller has heard it."""
        loop = self.host.loop
        loop.call_at(max(self.host.pacer.playing_until, loop.time()), self._call_end_due)

    def _call_end_due(self) -> None:
        host = self.host
        if host.closed:  # the transport ended the conversation meanwhile
            return
        if host.turn_id != self.turn.turn_id:  # a barge-in or a new turn: the caller went on
            logger.info("session %s: the caller spoke, the call goes on", host.session_id)
            return
        pacer = host.pacer
        if pacer.paused or pacer.is_playing():
            # The caller may be starting to talk (a pause), or playback resumed after one:
            # decide when what was sent has been heard.
            when = max(pacer.playing_until, host.loop.time() + pacer.frame_s)
            host.loop.call_at(when, self._call_end_due)
            return
        host.emitter(self.call_end)


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
