"""The operator's surface: agents (tool picker, voice choice, prompt preview, handoff graph),
templates, session agents, demo users and what the banking tools recorded."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join

from agentbuilder import selectors
from agentbuilder.models import (
    Account,
    Agent,
    AgentConfig,
    AgentTemplate,
    Callback,
    Card,
    CardApplication,
    CardProduct,
    DemoUser,
    Dispute,
    Escalation,
    FraudCase,
    RetirementAccount,
    SecretCode,
    SessionAgent,
    Transaction,
)
from agentbuilder.rendering import base_context, render
from agentbuilder.tools.registry import registry
from agentbuilder.voices import voice_catalogue

SAMPLE_CALLER = {"caller_name": "Jane Doe", "client_id": "jane_doe_cfs"}


def _tool_choices(exclude_agent: Agent | None = None) -> tuple[list, dict[str, str]]:
    """Registered tools grouped by their first tag, then the other agents' handoff triggers;
    and a description of each choice."""
    groups: dict[str, list] = {}
    descriptions: dict[str, str] = {}
    for t in sorted(registry().values(), key=lambda t: (t.tags[:1], t.name)):
        groups.setdefault(t.tags[0] if t.tags else "other", []).append((t.name, t.name))
        descriptions[t.name] = t.description
    handoffs = []
    for a in Agent.objects.order_by("name"):
        if exclude_agent is None or a.pk != exclude_agent.pk:
            handoffs.append((a.handoff_trigger, a.handoff_trigger))
            descriptions[a.handoff_trigger] = f"→ {a.name}: {a.handoff_description}".strip()
    choices = [(tag.title(), items) for tag, items in groups.items()] + [("Handoffs", handoffs)]
    return choices, descriptions


class ToolPicker(forms.CheckboxSelectMultiple):
    """The tool checkboxes as a compact grid per tag, each with its description as a hint."""

    template_name = "agentbuilder/widgets/tool_picker.html"
    descriptions: dict[str, str] = {}

    class Media:
        css = {"all": ("agentbuilder/admin/tool_picker.css",)}

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        option["description"] = self.descriptions.get(value, "")
        return option


def _voice_choices(current: str) -> list[tuple[str, list]]:
    groups: dict[str, list] = {}
    for voice in voice_catalogue():
        groups.setdefault(voice.category, []).append((voice.name, voice.display_name))
    choices = [(category.title(), items) for category, items in groups.items()]
    known = {name for _, items in choices for name, _ in items}
    if current and current not in known:
        choices.insert(0, ("Current", [(current, current)]))
    return choices


class AgentConfigForm(forms.ModelForm):
    # The fieldset heading names the picker: no second label beside it.
    tools = forms.MultipleChoiceField(
        label="",
        required=False,
        widget=ToolPicker,
        help_text="Only registered tools and other agents' handoff triggers can be picked.",
    )
    voice_name = forms.ChoiceField(label="Voice")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance if isinstance(self.instance, Agent) else None
        choices, descriptions = _tool_choices(instance if instance and instance.pk else None)
        self.fields["tools"].choices = choices
        self.fields["tools"].widget.descriptions = descriptions
        current = self.instance.voice_name if self.instance else ""
        self.fields["voice_name"].choices = _voice_choices(current)
        if not self.is_bound:
            self.initial["tools"] = list(self.instance.tools or [])


CONFIG_FIELDS = AgentConfig.CONFIG_FIELDS


class AgentForm(AgentConfigForm):
    class Meta:
        model = Agent
        fields = (
            "name",
            "enabled",
            "is_entry_point",
            "handoff_trigger",
            "handoff_description",
            "metadata",
            "pii_redaction",
            *CONFIG_FIELDS,
        )


class AgentTemplateForm(AgentConfigForm):
    class Meta:
        model = AgentTemplate
        fields = ("slug", "name", "handoff_trigger", "is_entry_point", *CONFIG_FIELDS)


class SessionAgentForm(AgentConfigForm):
    class Meta:
        model = SessionAgent
        fields = ("session_id", "name", "created_by", "expires_at", *CONFIG_FIELDS)


class PreviewMixin:
    @admin.display(description="Rendered preview (sample verified caller)")
    def rendered_preview(self, obj) -> str:
        if obj is None or not obj.pk:
            return "Save to see the rendered greeting and prompt."
        context = base_context(agent_name=obj.name, template_vars=obj.template_vars)
        context.update(SAMPLE_CALLER)
        return format_html(
            "<p><b>Greeting:</b> {}</p><p><b>Return greeting:</b> {}</p>"
            '<pre style="white-space: pre-wrap; max-width: 60em">{}</pre>',
            render(obj.greeting, context) or "(silent)",
            render(obj.return_greeting, context) or "(none)",
            render(obj.instructions, context),
        )


MODEL_FIELDSET = (
    "Model",
    {"fields": (("model_deployment", "temperature", "top_p", "max_tokens"),)},
)
TOOLS_FIELDSET = ("Tools and handoffs", {"fields": ("tools",)})
VOICE_FIELDSET = ("Voice", {"fields": (("voice_name", "voice_style", "voice_rate"),)})


@admin.register(Agent)
class AgentAdmin(PreviewMixin, admin.ModelAdmin):
    form = AgentForm
    # Narrow columns: the handoff graph above the list says who hands off to whom.
    list_display = ("name", "entry", "enabled", "voice", "tool_count", "source", "edited")
    list_filter = ("enabled", "is_entry_point", "source")
    search_fields = ("name", "description", "handoff_trigger")
    readonly_fields = ("rendered_preview", "handoff_graph", "source", "library_file", "created_at")
    actions = ("enable", "disable")
    fieldsets = (
        (None, {"fields": ("name", "description", ("enabled", "is_entry_point"))}),
        (
            "Handoff",
            {"fields": ("handoff_trigger", "handoff_description", "handoff_graph")},
        ),
        ("Prompts (Jinja)", {"fields": ("greeting", "return_greeting", "instructions")}),
        ("Preview", {"fields": ("rendered_preview",)}),
        TOOLS_FIELDSET,
        VOICE_FIELDSET,
        MODEL_FIELDSET,
        ("Privacy", {"fields": ("pii_redaction",)}),
        (
            "Advanced",
            {
                "classes": ("collapse",),
                "fields": (
                    "template_vars",
                    "realtime",
                    "metadata",
                    "source",
                    "library_file",
                    "created_at",
                ),
            },
        ),
    )

    @admin.display(description="Tools")
    def tool_count(self, obj: Agent) -> int:
        return len(obj.tools)

    @admin.display(description="Entry", boolean=True, ordering="is_entry_point")
    def entry(self, obj: Agent) -> bool:
        return obj.is_entry_point

    @admin.display(description="Voice", ordering="voice_name")
    def voice(self, obj: Agent) -> str:
        names = {v.name: v.display_name for v in voice_catalogue()}
        return format_html(
            '<span title="{}">{}</span>', obj.voice_name, names.get(obj.voice_name, obj.voice_name)
        )

    @admin.display(description="Edited", boolean=True)
    def edited(self, obj: Agent) -> bool | None:
        if not obj.library_digest:
            return None
        return obj.content_digest() != obj.library_digest

    @admin.display(description="Handoff graph")
    def handoff_graph(self, obj: Agent) -> str:
        if obj is None or not obj.pk:
            return "-"
        agents = list(Agent.objects.all())
        edges = selectors.handoff_edges(agents)
        out = sorted({e["target"] for e in edges if e["source"] == obj.name})
        into = sorted({e["source"] for e in edges if e["target"] == obj.name})
        return format_html(
            "<b>Hands off to:</b> {}<br><b>Reached from:</b> {}",
            ", ".join(out) or "nobody",
            ", ".join(into) or "nobody",
        )

    def changelist_view(self, request, extra_context=None):
        agents = list(Agent.objects.all())
        edges = selectors.handoff_edges(agents)
        rows = [
            (
                a.name + (" (entry)" if a.is_entry_point else ""),
                ", ".join(sorted({e["target"] for e in edges if e["source"] == a.name})) or "-",
            )
            for a in agents
            if a.enabled
        ]
        graph = format_html_join("", "<tr><td>{}</td><td>→ {}</td></tr>", rows)
        extra_context = {**(extra_context or {}), "handoff_graph_rows": graph}
        return super().changelist_view(request, extra_context=extra_context)

    @admin.action(description="Enable the selected agents")
    def enable(self, request, queryset):
        queryset.update(enabled=True)

    @admin.action(description="Disable the selected agents (not the entry point)")
    def disable(self, request, queryset):
        skipped = queryset.filter(is_entry_point=True).count()
        queryset.filter(is_entry_point=False).update(enabled=False)
        if skipped:
            self.message_user(request, "The entry agent stays enabled.")


@admin.register(AgentTemplate)
class AgentTemplateAdmin(PreviewMixin, admin.ModelAdmin):
    form = AgentTemplateForm
    list_display = ("slug", "name", "is_entry_point", "source", "updated_at")
    search_fields = ("slug", "name", "description")
    readonly_fields = ("rendered_preview", "source")
    fieldsets = (
        (None, {"fields": ("slug", "name", "description", "source")}),
        ("Handoff", {"fields": ("handoff_trigger", "is_entry_point")}),
        ("Prompts (Jinja)", {"fields": ("greeting", "return_greeting", "instructions")}),
        ("Preview", {"fields": ("rendered_preview",)}),
        TOOLS_FIELDSET,
        VOICE_FIELDSET,
        MODEL_FIELDSET,
        ("Advanced", {"classes": ("collapse",), "fields": ("template_vars", "realtime")}),
    )


@admin.register(SessionAgent)
class SessionAgentAdmin(PreviewMixin, admin.ModelAdmin):
    form = SessionAgentForm
    list_display = ("session_id", "name", "created_by", "updated_at", "expires_at")
    search_fields = ("session_id", "name")
    readonly_fields = ("rendered_preview",)
    fieldsets = (
        (None, {"fields": ("session_id", "name", "description", "created_by", "expires_at")}),
        ("Prompts (Jinja)", {"fields": ("greeting", "return_greeting", "instructions")}),
        ("Preview", {"fields": ("rendered_preview",)}),
        TOOLS_FIELDSET,
        VOICE_FIELDSET,
        MODEL_FIELDSET,
        ("Advanced", {"classes": ("collapse",), "fields": ("template_vars", "realtime")}),
    )


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class SecretCodeInline(ReadOnlyInline):
    model = SecretCode
    fields = ("purpose", "expires_at", "failed_attempts", "max_attempts", "last_used_at")
    readonly_fields = fields  # the hash and salt stay out of the admin


class AccountInline(ReadOnlyInline):
    model = Account
    fields = ("account_id", "kind", "balance", "available_balance", "number_last4")
    readonly_fields = fields


class CardInline(ReadOnlyInline):
    model = Card
    fk_name = "demo_user"
    fields = ("card_id", "product_name", "kind", "last4", "status", "estimated_delivery")
    readonly_fields = fields


class TransactionInline(ReadOnlyInline):
    model = Transaction
    fields = ("transaction_id", "merchant", "amount", "category", "risk_score", "status")
    readonly_fields = fields


class RetirementInline(ReadOnlyInline):
    model = RetirementAccount
    fields = ("account_id", "kind", "provider", "balance", "is_former_employer")
    readonly_fields = fields


@admin.register(DemoUser)
class DemoUserAdmin(admin.ModelAdmin):
    list_display = ("full_name", "email", "client_id", "relationship_tier", "expires_at")
    search_fields = ("full_name", "email", "client_id", "session_id")
    list_filter = ("relationship_tier", "institution_name")
    readonly_fields = ("client_id", "entry_id", "created_by", "created_at")
    inlines = (SecretCodeInline, AccountInline, CardInline, TransactionInline, RetirementInline)


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    list_display = ("reference", "kind", "department", "priority", "status", "created_at")
    list_filter = ("kind", "priority", "status")
    search_fields = ("reference", "reason", "session_id")


@admin.register(Callback)
class CallbackAdmin(admin.ModelAdmin):
    list_display = ("reference", "demo_user", "preferred_time", "department", "status")
    search_fields = ("reference", "reason")


@admin.register(FraudCase)
class FraudCaseAdmin(admin.ModelAdmin):
    list_display = ("case_id", "demo_user", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("case_id", "reason")


@admin.register(Dispute)
class DisputeAdmin(admin.ModelAdmin):
    list_display = ("dispute_id", "demo_user", "kind", "provisional_credit", "status")
    list_filter = ("kind", "status")


@admin.register(CardProduct)
class CardProductAdmin(admin.ModelAdmin):
    list_display = ("product_id", "name", "tier", "annual_fee", "apr")


@admin.register(CardApplication)
class CardApplicationAdmin(admin.ModelAdmin):
    list_display = ("application_id", "demo_user", "product", "status", "updated_at")
    list_filter = ("status",)
