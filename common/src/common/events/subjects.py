from enum import StrEnum


class Subjects(StrEnum):
    """The six subjects of the contract, spelled exactly as the original system spells them."""

    TICKET_CREATED = "ticket:created"
    TICKET_UPDATED = "ticket:updated"
    ORDER_CREATED = "order:created"
    ORDER_CANCELLED = "order:cancelled"
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
