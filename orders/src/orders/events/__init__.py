"""What the orders service does on events from other services."""

QUEUE_GROUP = "orders-service"
