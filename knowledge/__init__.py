"""The knowledge base: articles, resolved tickets as knowledge, search in the team's languages,
suggestions on new tickets.

Invariants: ``tickets`` never imports this package; knowledge learns about tickets from their
events (a trigger queues the kinds it needs in ``kb_inbox``, see ``migrations/``) and speaks to
rooms only through outbox rows. Every table change is a migration in ``knowledge/migrations``,
numbered in the one sequence ``storage.migrate`` applies.
"""
