"""Data access: the one package that knows the table's keys, attribute names and boto3.

:mod:`~session_service.data.dynamo` runs the requests and translates their failures,
:mod:`~session_service.data.keys` owns the key formats and the access-pattern table,
:mod:`~session_service.data.items` and :mod:`~session_service.data.stats` map items to models,
:mod:`~session_service.data.actions` builds a transaction's typed actions, :mod:`~session_service.data.reads`
the shared reads, and :mod:`~session_service.data.guard` the write guard of keyed creates.
"""
