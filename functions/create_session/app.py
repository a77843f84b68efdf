"""POST /api/v1/sessions: 201 with a new session; 200 with the caller's existing one of that id."""

from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from session_service.http import caller, entry, make_resolver, session_response
from session_service.models import Session, SessionCreate
from session_service.wiring import repository

app = make_resolver()


@app.post("/api/v1/sessions")
def create_session(body: SessionCreate) -> Response[Session]:
    user_id = caller(app, body.user_id, ("body", "user_id"))
    session, created = repository().create_session(user_id, body)
    return session_response(session, HTTPStatus.CREATED if created else HTTPStatus.OK)


lambda_handler = entry(app)
