-- Reports count SLA targets met and missed per policy from the events that judged them
-- (sla_finished, sla_breached), by when they happened.
CREATE INDEX ticket_events_sla ON ticket_events (at) WHERE kind IN ('sla_finished', 'sla_breached');
