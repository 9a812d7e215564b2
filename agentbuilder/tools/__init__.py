"""The banking tools. Each module registers its tools when imported
(`agentbuilder.tools.registry`); `AgentBuilderConfig.ready` imports them all, so that the
models' validation, which asks the registry, never imports a tool (tools use the models)."""
