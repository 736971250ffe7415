"""Small shared pieces every layer may use: typed loading of configuration data with key
paths (``schema``), durations as people write them (``durations``). Imports nothing of opsroom."""
