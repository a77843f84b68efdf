"""One process of the ADK agent run (``test_adk_agent_round_trip.py``): an ADK ``LlmAgent`` on a stub model (it
answers from a script: tool calls, then text) with tools that write state in all four scopes (session, ``user:``,
``app:``, ``temp:``), run by ADK's ``Runner`` on :class:`SessionServiceSessionService`.

``save`` creates the session and runs two turns (a tool call each), printing the events the runner yielded
and the state they built; ``restore`` (a new process) prints what ``get_session`` reads back, then runs a third
turn and prints what the stub model was given (the restored conversation). ``other-user`` prints what another
user of the app sees. Arguments: ``save|restore|other-user <base_url> <namespace> <user_id> <session_id>``;
the last line printed is the JSON answer.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncGenerator
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.tools.tool_context import ToolContext
from google.genai import types
from session_service_client.adk import SessionServiceSessionService

APP = "trips"


class ScriptedLlm(BaseLlm):
    """A stub model: each call answers the next scripted content and records the request it was given."""

    model: str = "scripted"
    script: list[types.Content] = []
    requests: list[LlmRequest] = []

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self.requests.append(llm_request)
        yield LlmResponse(content=self.script.pop(0))


def call(name: str, **args: Any) -> types.Content:
    return types.Content(role="model", parts=[types.Part(function_call=types.FunctionCall(name=name, args=args))])


def text(words: str) -> types.Content:
    return types.Content(role="model", parts=[types.Part(text=words)])


def plan_trip(city: str, nights: int, tool_context: ToolContext) -> dict[str, Any]:
    """Plan a trip: the plan is the session's, the home city the user's, the count of plans the app's."""
    tool_context.state["plan"] = {"city": city, "nights": nights}
    tool_context.state["user:home"] = "Lisbon"
    tool_context.state["app:plans"] = (tool_context.state.get("app:plans") or 0) + 1
    tool_context.state["temp:draft"] = f"{city} draft"  # this invocation's only: never stored
    return {"planned": city, "nights": nights}


def book_flight(flight: str, tool_context: ToolContext) -> dict[str, Any]:
    """Book a flight (the bookings are the session's, the last booking the user's, the count the app's)."""
    assert tool_context.state.get("temp:draft") is None  # a new invocation: the last one's temp: keys are gone
    tool_context.state["bookings"] = [*(tool_context.state.get("bookings") or []), flight]
    tool_context.state["user:last_flight"] = flight
    tool_context.state["app:bookings"] = (tool_context.state.get("app:bookings") or 0) + 1
    return {"booked": flight, "ticket": b"\x00\x01ticket".hex()}


def runner(service: SessionServiceSessionService, script: list[types.Content]) -> tuple[Runner, ScriptedLlm]:
    model = ScriptedLlm(script=script, requests=[])
    agent = LlmAgent(
        name="planner", model=model, instruction="Plan trips.", tools=[plan_trip, book_flight], output_key="reply"
    )
    return Runner(app_name=APP, agent=agent, session_service=service), model


async def turn(run: Runner, user_id: str, session_id: str, words: str, *parts: types.Part) -> list[dict[str, Any]]:
    """One user turn: the events the runner yielded (stored ones: no partial events here), as JSON."""
    message = types.Content(role="user", parts=[types.Part(text=words), *parts])
    return [
        event.model_dump(mode="json", exclude_none=True)
        async for event in run.run_async(user_id=user_id, session_id=session_id, new_message=message)
    ]


async def save(service: SessionServiceSessionService, user_id: str, session_id: str) -> dict[str, Any]:
    script = [
        call("plan_trip", city="Rome", nights=3),
        text("Rome it is: three nights."),
        call("book_flight", flight="AZ 9:40"),
        text("Booked AZ 9:40."),
    ]
    run, _ = runner(service, script)
    initial = {"traveller": "Ana", "user:name": "Ana", "app:currency": "EUR", "temp:ignored": True}
    await service.create_session(app_name=APP, user_id=user_id, session_id=session_id, state=initial)
    events = await turn(run, user_id, session_id, "Plan a weekend in Rome")
    boarding_pass = types.Part.from_bytes(data=b"\x89PNG\r\n\x1a\n\x00\xff", mime_type="image/png")
    events += await turn(run, user_id, session_id, "Book the morning flight", boarding_pass)
    state = {key: value for key, value in initial.items() if not key.startswith("temp:")}
    for event in events:
        state.update(event.get("actions", {}).get("state_delta", {}))
    return {"events": events, "state": state}


async def restore(service: SessionServiceSessionService, user_id: str, session_id: str) -> dict[str, Any]:
    session = await service.get_session(app_name=APP, user_id=user_id, session_id=session_id)
    assert session is not None
    held = {"events": [event.model_dump(mode="json", exclude_none=True) for event in session.events]}
    held["state"] = session.state
    run, model = runner(service, [text("You fly Friday at 9:40.")])
    await turn(run, user_id, session_id, "When do I fly?")
    held["model_saw"] = [
        part.text or (part.function_call and part.function_call.name) or (part.function_response and "response")
        for content in model.requests[0].contents
        for part in content.parts or []
    ]
    held["user_state"] = await service.get_user_state(app_name=APP, user_id=user_id)
    return held


async def other_user(service: SessionServiceSessionService, user_id: str, session_id: str) -> dict[str, Any]:
    session = await service.create_session(app_name=APP, user_id=user_id, session_id=session_id)
    listed = await service.list_sessions(app_name=APP)
    return {"state": session.state, "listed": sorted([s.user_id, s.id] for s in listed.sessions)}


def main(mode: str, base_url: str, namespace: str, user_id: str, session_id: str) -> None:
    service = SessionServiceSessionService(base_url=base_url, namespace=namespace)
    action = {"save": save, "restore": restore, "other-user": other_user}[mode]
    print(json.dumps(asyncio.run(action(service, user_id, session_id)), sort_keys=True))


if __name__ == "__main__":
    main(*sys.argv[1:6])
