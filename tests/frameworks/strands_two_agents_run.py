"""One process of the two-agent Strands run (``test_strands_agents_round_trip.py``): ``save`` runs two agents of
one session on a stub model (Strands' own ``MockedModelProvider``, from the sdist's test fixtures on
``sys.path``) with their state and prints what they hold; ``restore`` makes the same agents in a new process and
prints what the session manager restored. Arguments: ``save|restore <base_url> <user_id> <session_id>``."""

from __future__ import annotations

import json
import sys

from session_service_client.strands import SessionServiceRepository
from strands import Agent
from strands.session.repository_session_manager import RepositorySessionManager

from tests.fixtures.mocked_model_provider import MockedModelProvider


def _reply(text: str) -> dict[str, object]:
    return {"role": "assistant", "content": [{"text": text}]}


def _agent(manager: RepositorySessionManager, agent_id: str, replies: list[str]) -> Agent:
    return Agent(
        agent_id=agent_id,
        model=MockedModelProvider([_reply(text) for text in replies]),
        session_manager=manager,
        callback_handler=None,
    )


def _held(agent: Agent) -> dict[str, object]:
    return {"messages": agent.messages, "state": agent.state.get()}


def main(mode: str, base_url: str, user_id: str, session_id: str) -> None:
    repository = SessionServiceRepository(base_url=base_url, user_id=user_id)
    planner_manager = RepositorySessionManager(session_id=session_id, session_repository=repository)
    writer_manager = RepositorySessionManager(session_id=session_id, session_repository=repository)
    planner = _agent(planner_manager, "planner", ["Plan: fly to Rome.", "Book the 9:40 flight."])
    writer = _agent(writer_manager, "writer", ["Dear Ana, we fly Friday."])
    if mode == "save":
        planner.state.set("destination", {"city": "Rome", "nights": 3})
        planner("Plan a weekend in Rome")
        planner("Which flight?")
        writer.state.set("tone", "warm")
        writer("Write to Ana about it")
    print(json.dumps({"planner": _held(planner), "writer": _held(writer)}, sort_keys=True))


if __name__ == "__main__":
    main(*sys.argv[1:5])
