"""`ServiceSpec.create_app`: probes, listeners, dependencies and the outbox wired to real NATS
and Mongo."""

import asyncio
from typing import Any

from fastapi import APIRouter

from common.database import VersionedDocument
from common.events.listener import Listener, Message
from common.events.schemas import TicketCreated
from common.events.stream import STREAM_NAME, connect_nats
from common.events.subjects import Subjects
from common.service import ServiceSpec, no_dependencies
from common.settings import MongoSettings, NatsSettings, ServiceSettings
from testsupport.apps import serving
from testsupport.servers import NatsServer, wait_until


class Thing(VersionedDocument):
    title: str

    class Settings:
        name = "things"


def thing_created(thing: Thing) -> TicketCreated:
    return TicketCreated(
        id=str(thing.id), version=thing.version, title=thing.title, price=1, user_id="u"
    )


seen: list[str] = []


class ThingListener(Listener[TicketCreated]):
    subject = Subjects.TICKET_CREATED
    queue_group = "wiring-test"
    event_model = TicketCreated

    async def on_message(self, data: TicketCreated, msg: Message) -> None:
        seen.append(data.title)


router = APIRouter()


@router.post("/things")
async def create_thing() -> dict[str, str]:
    thing = await Thing(title="via-route").insert_with_event(thing_created)
    return {"id": str(thing.id)}


class WiringSettings(ServiceSettings, MongoSettings, NatsSettings):
    pass


def make_app(mongo_uri: str, nats_url: str) -> Any:
    spec = ServiceSpec(
        name="wiring",
        settings=WiringSettings,
        dependencies=no_dependencies,
        document_models=[Thing],
        routers=[router],
        listeners=lambda _: [ThingListener()],
    )
    settings = WiringSettings(JWT_KEY="k", MONGO_URI=mongo_uri, NATS_URL=nats_url)
    return spec.create_app(settings, outbox_grace=0.2)


async def test_a_service_publishes_listens_and_relays_what_was_left_behind(
    mongo_uri: str, nats_server: NatsServer
) -> None:
    seen.clear()
    # A change stored while the service was down, its event never published:
    from common.database import connect_database

    client = await connect_database(mongo_uri, [Thing])
    await Thing(title="left-behind").insert_with_event(thing_created)
    await client.close()

    app = make_app(mongo_uri, nats_server.url)
    async with serving(app, shutdown_timeout=30) as http:
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"ready": True, "database": True, "nats": True}
        assert (await http.post("/things")).status_code == 200
        await wait_until(lambda: sorted(seen) == ["left-behind", "via-route"])
        for _ in range(40):  # published events are cleared within a moment
            if await Thing.find({"outbox_at": {"$exists": True}}).count() == 0:
                break
            await asyncio.sleep(0.05)
        assert await Thing.find({"outbox_at": {"$exists": True}}).count() == 0

    nc = await connect_nats(nats_server.url, "check")
    info = await nc.jetstream().stream_info(STREAM_NAME)
    assert info.state.messages == 2
    await nc.close()


async def test_readyz_is_503_while_nats_is_down(mongo_uri: str, nats_server: NatsServer) -> None:
    app = make_app(mongo_uri, nats_server.url)
    async with serving(app, shutdown_timeout=30) as http:
        nats_server.stop()
        await wait_until(lambda: not app.state.infrastructure.nats.is_connected)
        response = await http.get("/readyz")
        assert response.status_code == 503
        assert response.json()["nats"] is False
        nats_server.start()
        await wait_until(lambda: app.state.infrastructure.nats.is_connected, within=15)
        assert (await http.get("/readyz")).status_code == 200
