"""The stream function's work, by job (see :mod:`session_service.stream.processor` for the design).

``functions/stream_processor/app.py`` calls :func:`stream_processor` and :meth:`StreamProcessor.handle`.
"""

from session_service.stream.processor import (
    Change,
    Delta,
    IndexMove,
    MalformedRecord,
    Outcome,
    StreamApplyError,
    StreamProcessor,
    applicable_prefix,
    applied_mark,
    contribution,
    parse_record,
    stream_processor,
    summary_due,
    summary_point,
)

__all__ = [
    "Change",
    "Delta",
    "IndexMove",
    "MalformedRecord",
    "Outcome",
    "StreamApplyError",
    "StreamProcessor",
    "applicable_prefix",
    "applied_mark",
    "contribution",
    "parse_record",
    "stream_processor",
    "summary_due",
    "summary_point",
]
