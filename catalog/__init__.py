"""The catalog: what opsroom knows about rooms, people, regulations, sources and monitors."""
