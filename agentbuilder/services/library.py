"""Loading the shipped agent library (YAML in `agentbuilder/library/`) into the database.

Idempotent: an unchanged file changes nothing. An agent edited since it was loaded (in the
admin or through the API) is never overwritten: it is reported as skipped, unless `force`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from agentbuilder.models import Agent, AgentTemplate, CardProduct, library_digest
from agentbuilder.validation import (
    NAME_RE,
    realtime_errors,
    template_errors,
    tool_errors,
    trigger_for,
)

logger = logging.getLogger(__name__)

LIBRARY_DIR = Path(__file__).resolve().parent.parent / "library"


class LibraryError(Exception):
    """A library file is malformed; names the file and what is wrong."""


@dataclass
class LibraryReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    # Library agents in the database after the load: those skipped because they were edited
    # are still there (as edited); those skipped for a conflict are not.
    loaded: list[str] = field(default_factory=list)
    templates: int = 0
    card_products: int = 0

    @property
    def agents(self) -> list[str]:
        return sorted(self.loaded)

    def summary(self) -> str:
        text = (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped"
        )
        for skip in self.skipped:
            text += f"\n  skipped {skip['name']}: {skip['reason']}"
        return text


@dataclass(frozen=True)
class LibraryAgent:
    slug: str
    path: str
    values: dict[str, Any]

    @property
    def name(self) -> str:
        return self.values["name"]


def parse_agent_file(path: Path) -> LibraryAgent:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise LibraryError(f"{path.name}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict) or not NAME_RE.match(str(data.get("name", ""))):
        raise LibraryError(f"{path.name}: needs a `name` (letters, digits, '_' or '-')")
    name = data["name"]
    handoff = data.get("handoff") or {}
    model = data.get("model") or {}
    voice = data.get("voice") or {}
    prompt = data.get("prompt") or ""
    if not str(prompt).strip():
        raise LibraryError(f"{path.name}: needs a `prompt`")
    values = {
        "name": name,
        "description": str(data.get("description", "")).strip(),
        "greeting": str(data.get("greeting") or "").strip(),
        "return_greeting": str(data.get("return_greeting") or "").strip(),
        "instructions": str(prompt).strip(),
        "template_vars": data.get("template_vars") or {},
        "voice_name": voice.get("name", "en-US-AvaMultilingualNeural"),
        "voice_style": voice.get("style", "chat"),
        "voice_rate": str(voice.get("rate", "+0%")),
        "model_deployment": model.get("deployment_id", "gpt-4o"),
        "temperature": float(model.get("temperature", 0.7)),
        "top_p": float(model.get("top_p", 0.9)),
        "max_tokens": int(model.get("max_tokens", 4096)),
        "tools": list(data.get("tools") or []),
        "realtime": data.get("realtime") or {},
        "handoff_trigger": handoff.get("trigger") or trigger_for(name),
        "handoff_description": str(handoff.get("description", "")).strip(),
        "is_entry_point": bool(handoff.get("is_entry_point", False)),
        "enabled": bool(data.get("enabled", True)),
    }
    return LibraryAgent(slug=path.stem.replace("_", "-"), path=path.name, values=values)


def _validate(entry: LibraryAgent, known_triggers: set[str]) -> None:
    values = entry.values
    agent = Agent(**values)
    try:
        agent.clean_fields(exclude=["library_digest", "library_file"])
    except ValidationError as exc:
        raise LibraryError(f"{entry.path}: {exc.message_dict}") from exc
    errors = template_errors(
        greeting=values["greeting"],
        return_greeting=values["return_greeting"],
        instructions=values["instructions"],
    )
    problem = tool_errors(
        values["tools"], known_triggers=known_triggers, own_trigger=values["handoff_trigger"]
    )
    if problem:
        errors["tools"] = problem
    problem = realtime_errors(values["realtime"])
    if problem:
        errors["realtime"] = problem
    if errors:
        raise LibraryError(f"{entry.path}: {errors}")


def _conflict(entry: LibraryAgent) -> str:
    values = entry.values
    others = Agent.objects.exclude(name=entry.name)
    if others.filter(handoff_trigger=values["handoff_trigger"]).exists():
        return f"another agent already uses the trigger {values['handoff_trigger']}"
    if values["is_entry_point"] and others.filter(is_entry_point=True).exists():
        return "another agent is the entry point"
    return ""


def _load_agent(entry: LibraryAgent, report: LibraryReport, *, force: bool) -> None:
    digest = library_digest({k: v for k, v in entry.values.items() if k != "name"})
    existing = Agent.objects.filter(name=entry.name).first()
    if existing is not None:
        foreign = existing.source != Agent.Source.LIBRARY
        edited = foreign or existing.content_digest() != existing.library_digest
        if not edited and existing.library_digest == digest:
            report.unchanged.append(entry.name)
            return
        if edited and not force:
            reason = (
                f"created in the {existing.source}, not loaded"
                if foreign
                else "edited since it was loaded (use --force)"
            )
            report.skipped.append({"name": entry.name, "reason": reason})
            return
    conflict = _conflict(entry)
    if conflict:
        report.skipped.append({"name": entry.name, "reason": conflict})
        return
    agent = existing or Agent(name=entry.name)
    for key, value in entry.values.items():
        setattr(agent, key, value)
    agent.source = Agent.Source.LIBRARY
    agent.library_file = entry.path
    agent.library_digest = digest
    agent.save()
    (report.updated if existing else report.created).append(entry.name)


def _load_template(entry: LibraryAgent) -> None:
    template = AgentTemplate.objects.filter(slug=entry.slug).first()
    if template is not None and template.source != Agent.Source.LIBRARY:
        return
    template = template or AgentTemplate(slug=entry.slug, source=Agent.Source.LIBRARY)
    fields = {f.name for f in AgentTemplate._meta.get_fields()}
    for key, value in entry.values.items():
        if key in fields:
            setattr(template, key, value)
    template.save()


def _load_card_products(path: Path) -> int:
    if not path.exists():
        return 0
    rows = yaml.safe_load(path.read_text()) or []
    for row in rows:
        CardProduct.objects.update_or_create(
            product_id=row["product_id"],
            defaults={k: v for k, v in row.items() if k != "product_id"},
        )
    return len(rows)


def library_load(*, directory: Path = LIBRARY_DIR, force: bool = False) -> LibraryReport:
    """Load every `agents/*.yaml` of the library, its templates and the card catalogue.

    Raises LibraryError (and changes nothing) when a file is malformed.
    """
    entries = [parse_agent_file(p) for p in sorted((directory / "agents").glob("*.yaml"))]
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise LibraryError("two library files define the same agent name")
    library_names = set(names)
    known = {e.values["handoff_trigger"] for e in entries} | set(
        Agent.objects.exclude(name__in=library_names).values_list("handoff_trigger", flat=True)
    )
    for entry in entries:
        _validate(entry, known)
    report = LibraryReport()
    with transaction.atomic():
        for entry in entries:
            _load_agent(entry, report, force=force)
        for entry in entries:
            _load_template(entry)
        report.loaded = list(Agent.objects.filter(name__in=names).values_list("name", flat=True))
        report.templates = len(entries)
        report.card_products = _load_card_products(directory / "card_products.yaml")
    logger.info("agent library loaded: %s", report.summary().replace("\n", ";"))
    return report
