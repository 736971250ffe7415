"""The Matrix face of opsroom: sync, commands, reactions, message rendering and delivery."""
