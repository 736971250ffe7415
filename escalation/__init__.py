"""Escalation: which level is called next (``chain``), how the people of a level are reached
(``notify``), and the steps that call them (``steps``). Builds on tickets; never the reverse."""
