from enum import StrEnum


class Subjects(StrEnum):
    """The contract's subjects, spelled exactly as the original system spells them (plus
    order:completed, which the original never published)."""

    TICKET_CREATED = "ticket:created"
    TICKET_UPDATED = "ticket:updated"
    ORDER_CREATED = "order:created"
    ORDER_CANCELLED = "order:cancelled"
    ORDER_COMPLETED = "order:completed"
    EXPIRATION_COMPLETE = "expiration:complete"
    PAYMENT_CREATED = "payment:created"


class OrderStatus(StrEnum):
    CREATED = "created"
    """The order exists but its ticket has not been confirmed as reserved yet."""
    CANCELLED = "cancelled"
    """The ticket was already reserved, the buyer cancelled, or the order expired."""
    AWAITING_PAYMENT = "awaiting:payment"
    """The ticket is reserved for this order."""
    COMPLETE = "complete"
    """Paid for."""
