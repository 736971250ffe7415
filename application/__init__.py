"""The application layer every face calls (bot, REST API, web form, mail, portal, reports).

- ``actor``: who acts, through which face, with which roles and levels per room;
- ``policy``: may this actor do this to this ticket, room or catalog entry, and if not, the
  refusal text (the same for every face);
- ``read_models``: what faces show (ticket detail, search, open tickets of a room), one query each;
- ``tickets``: the ticket steps people take, under the policy;
- ``domain``: the domain services composed over the live catalog.

Faces parse, authenticate, build an ``Actor``, call in here and render. Nothing here imports
a face.
"""
