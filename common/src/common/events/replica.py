"""Listeners that add an entity announced by its owning service to this service's replica.

The replica keeps the owner's id as its `_id`, so a repeated delivery is a duplicate key and
is ignored; an id that is not an ObjectId cannot name any entity and is logged, not retried.
The events of a fetched batch are handled at once (`handles_batch_together`), so their
inserts share one command (`common.together`).
"""

from __future__ import annotations

import contextlib
import logging
from abc import abstractmethod
from typing import TypeVar

from beanie import Document, PydanticObjectId
from pymongo.errors import DuplicateKeyError

from common.database import parse_object_id
from common.events.listener import Listener, Message
from common.events.schemas import EntityCreated
from common.stored import as_stored
from common.together import insert_together

logger = logging.getLogger(__name__)

C = TypeVar("C", bound=EntityCreated)


class ReplicaInsertListener(Listener[C]):
    """Inserts the replica `replica_of` builds; a duplicate delivery leaves the first one."""

    handles_batch_together = True
    """Each event adds its own entity, and a duplicate is ignored whichever comes first."""

    @abstractmethod
    def replica_of(self, entity_id: PydanticObjectId, data: C) -> Document:
        """The replica document for the announced entity."""

    async def on_message(self, data: C, msg: Message) -> None:
        entity_id = parse_object_id(data.id)
        if entity_id is None:
            logger.error("%s with a malformed id %r ignored", self.subject, data.id)
            return
        replica = self.replica_of(entity_id, data)
        with contextlib.suppress(DuplicateKeyError):
            await insert_together(replica.get_pymongo_collection(), as_stored(replica))
