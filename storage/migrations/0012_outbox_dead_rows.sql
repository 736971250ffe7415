-- Dead outbox rows (given up after deterministic or permanent failures) stay visible in
-- /healthz until an operator acknowledges them (`opsroom outbox ack`).

ALTER TABLE outbox ADD COLUMN dead_reason text;                  -- failed | refused
ALTER TABLE outbox ADD COLUMN dead_acknowledged_at timestamptz;
CREATE INDEX outbox_dead_unacknowledged ON outbox (id) WHERE dead_at IS NOT NULL AND dead_acknowledged_at IS NULL;
