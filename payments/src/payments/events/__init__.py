QUEUE_GROUP = "payments-service"
