"""Writes of the agentbuilder app. Tools that change banking data live in `agentbuilder.tools`."""

from agentbuilder.services.agents import (
    agent_update,
    session_agent_delete,
    session_agent_upsert,
    session_agents_purge_expired,
)
from agentbuilder.services.demo import DemoUserCreated, demo_user_create, demo_users_purge_expired
from agentbuilder.services.library import LibraryError, LibraryReport, library_load
from agentbuilder.tools.runner import DatabaseToolRunner

__all__ = [
    "DatabaseToolRunner",
    "DemoUserCreated",
    "LibraryError",
    "LibraryReport",
    "agent_update",
    "demo_user_create",
    "demo_users_purge_expired",
    "library_load",
    "session_agent_delete",
    "session_agent_upsert",
    "session_agents_purge_expired",
]
