"""The attribute names this package writes on the items it owns: ``STATS``, the users' usage and per-model usage
items, and the applied marks (their keys: :mod:`session_service.items`).

They are read back by the statistics and usage reads of the requests, so the names are one fact: the readers take
them from here. The users' ``COUNTS`` names are :func:`~session_service.items.count_attribute`'s (requests move
those counts too), the per-model usage counters :data:`~session_service.items.USAGE_FIELDS`.
"""

# STATS (``items.STATS_KEY``): the service's totals, each an ``ADD`` of the sessions that exist.
STATS_SESSIONS = "total_sessions"
STATS_ACTIVE = "active_sessions"
STATS_MESSAGES = "total_messages"
STATS_TOKENS = "total_tokens"
STATS_COST = "total_cost"
"""USD, exact (a DynamoDB number)."""

# A user's usage item (``items.user_usage_key``): the same totals over the user's sessions.
USAGE_SESSIONS = "sessions"
USAGE_ACTIVE = "active_sessions"
USAGE_MESSAGES = "messages"
USAGE_TOKENS = "tokens"
USAGE_COST = "cost"
"""USD, exact (a DynamoDB number)."""

MODEL_PAIR = "pair"
"""On a per-model usage item (``items.model_usage_key``): the (provider, model) pair it is about, as
:func:`~session_service.items.model_pair` writes it (the key holds only its hash)."""

# An applied mark (``items.mark_key``).
MARK_APPLIED = "applied"
"""The state the last applied record left the session in: ``<created_at>#<version:012d>#<0|1>``."""
MARK_SESSION = "session_id"
