"""What the tickets service does on events from other services."""

QUEUE_GROUP = "tickets-service"
