"""Response regulations (claim and resolve deadlines, escalation chains) and the deadline engine."""
