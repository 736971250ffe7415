"""Reports for managers: documented queries over the tickets' history and pure builders of
XLSX, PPTX, PNG, CSV and JSON files.

Invariants: every figure is computed in SQL by a query in :mod:`reports.store` (nothing holds a
whole period in memory; the ``tickets`` kind streams from a server-side cursor), and every
builder is a pure function of the query results and the texts of one language and time zone.
This part never imports a face (``bot``, ``intake``, ``admin_portal``); faces call it.
"""
