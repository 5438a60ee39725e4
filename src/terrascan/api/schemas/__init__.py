"""Pydantic schemas of the HTTP API: ``XBase -> XCreate / XUpdate / XPublic``.

Request bodies forbid unknown fields, so a body that tries to set ``role``, ``org_id``,
``owner_id`` or ``plan`` where the caller may not is a 422, never silently applied. Public
schemas list exactly what a response carries: no password or token hashes, no storage keys.
"""
