-- The REST API lists tickets newest first (GET /api/v1/tickets), continuing with a cursor on
-- (created_at, id); filters on room, state and severity narrow that walk.

CREATE INDEX tickets_newest_first ON tickets (created_at DESC, id DESC);
CREATE INDEX tickets_room_newest_first ON tickets (room_key, created_at DESC, id DESC);
