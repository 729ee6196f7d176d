from common.service import configure_logging, serve
from common.settings import load_settings
from tickets.app import create_app
from tickets.settings import TicketsSettings


def main() -> None:
    configure_logging("tickets")
    settings = load_settings(TicketsSettings)
    serve(create_app(settings), host=settings.HOST, port=settings.PORT)


if __name__ == "__main__":
    main()
