"""Escalation: which level is called next, and how the people of a level are reached."""
