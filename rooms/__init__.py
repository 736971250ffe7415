"""Topic rooms: one Matrix room per supported system, its specialist stack and routing rules."""
