"""Session Service shared layer: models, the single-table repository, HTTP wiring and the stream logic.

Handlers under ``functions/`` import from here; nothing in this package opens a client or reads the
environment at import time (see :mod:`session_service.wiring`).
"""

__version__ = "1.0.0"
