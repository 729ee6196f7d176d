"""Event subjects, payload schemas, and the JetStream publisher and listener."""
