"""The `rules` dialogue engine: deterministic, tool-aware, and **not an LLM**.

It makes the offline default useful and tests deterministic. It speaks the LLM interface
(streamed text and tool calls) so the engine treats it like any LLM, but it only follows rules:

1. After a tool result it speaks a short rendering of it (the tool's `message`, or a few of its
   fields); after a handoff the new agent answers the same utterance with its own tools. A
   failed tool that asks the caller something ("Could you say them again?") stays in hand, so
   the answer goes to it.
2. A goodbye ("No, that's everything. Thank you, goodbye.", "that's all", "hang up", "I'm
   done") that asks for nothing else calls the agent's `end_call` tool with the farewell said
   first; "thanks" alone, "good morning" or "bye the way" are not goodbyes (`hearing.goodbye`).
3. If it asked for a missing parameter last turn, the caller's answer fills it; a reply that
   does not is answered by asking again (twice at most, then it says what it can do), and the
   arguments already given are kept. A request said with the answer ("Yes please, send me a
   replacement card") or instead of it waits and is served once the tool asked about succeeds.
4. Otherwise it picks the active agent's tool whose name, description and parameter names share
   the most words with the utterance (handoffs too; synonyms and near-miss spellings count),
   fills parameters from the utterance, earlier turns, earlier tool results and the session's
   tool state (emails, digit strings, names, enum values, yes/no, free text), asks for the first
   one missing (the parameter's `x-ask`, else its description) and calls the tool when all are
   known. A value fills a parameter only where it was said for it: a count or amount by the
   parameter's words ("the last 3 transactions") and in its range, an option when named ("by
   express delivery"), digits of an earlier turn just after what they are ("my social ... is
   4817"); ids (`client_id`) come from the session (the verified client), never from digits
   said. An optional parameter not stated stays unset; too few digits of one stated are asked
   for again.
5. A tool refused until another one succeeds ("I need to verify your identity first ...") is
   called again once that one has: the stolen card reported after the caller is verified.
6. A number it is not sure of (a homophone such as "for ate one seven", a year-like "2019",
   more digits than the parameter takes) is read back first: "Did you say 4 8 1 7?"; a yes, a
   no or a corrected number settles it. One "for" or "to" right before the rest of the digits
   ("app for 817") is read as the digit.
7. With no matching tool it says it did not catch that and what it can help with.

The speech recognizer's habits (numbers as digits, split or punctuated; misheard banking
phrases) are handled in `hearing`, tool choice in `matching`, parameter values in `slots`,
what it says in `replies`.
"""

from media.providers.rules.engine import RulesDialogueEngine

__all__ = ["RulesDialogueEngine"]
