"""Jinja rendering of agent prompts and greetings.

Templates are edited by operators in the admin, so they run in Jinja's sandbox: a template can
format the variables it is given and nothing else. Missing variables render empty, so that
`{{ caller_name | default("there") }}` works for anonymous callers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

# trim_blocks/lstrip_blocks: a line holding only a {% block tag %} leaves no blank line behind.
_env = SandboxedEnvironment(
    autoescape=False, keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True
)


def template_error(source: str) -> str | None:
    """Why `source` is not a valid template, or None when it is."""
    try:
        _env.parse(source or "")
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        return f"{exc.message or exc}{where}"
    return None


def base_context(*, agent_name: str, template_vars: Mapping[str, Any] | None) -> dict[str, Any]:
    """Built-in defaults < the agent's template variables."""
    context: dict[str, Any] = {
        "agent_name": agent_name,
        "institution_name": settings.INSTITUTION_NAME,
    }
    context.update({k: v for k, v in (template_vars or {}).items() if v is not None})
    return context


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render a template; a template that fails at render time yields its source unrendered.

    Validation in the models rejects templates that do not parse, so this only happens for
    sandbox violations, which must not take a conversation down.
    """
    if not source:
        return ""
    try:
        return _env.from_string(source).render(**context).strip()
    except TemplateError:
        return source.strip()
