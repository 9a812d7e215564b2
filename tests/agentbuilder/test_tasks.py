from datetime import timedelta

import pytest
from django.utils import timezone

from agentbuilder.models import DemoUser, SecretCode, SessionAgent, Transaction
from agentbuilder.services import session_agent_upsert
from agentbuilder.tasks import purge_expired

pytestmark = pytest.mark.django_db


def test_purge_removes_expired_demo_users_with_their_data_and_old_session_agents(library, demo):
    session_agent_upsert(
        session_id="sess-old", config={"name": "Old", "prompt": "An expired helper agent."}
    )
    session_agent_upsert(
        session_id="sess-new", config={"name": "New", "prompt": "A current helper agent."}
    )
    past = timezone.now() - timedelta(seconds=1)
    DemoUser.objects.update(expires_at=past)
    SessionAgent.objects.filter(session_id="sess-old").update(expires_at=past)
    assert purge_expired.apply().get() == {"demo_users": 1, "session_agents": 1}
    assert not DemoUser.objects.exists()
    assert not SecretCode.objects.exists() and not Transaction.objects.exists()
    assert list(SessionAgent.objects.values_list("session_id", flat=True)) == ["sess-new"]
