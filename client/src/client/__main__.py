from client.app import create_app
from client.settings import ClientSettings
from common.service import configure_logging, serve
from common.settings import load_settings


def main() -> None:
    configure_logging("client")
    settings = load_settings(ClientSettings)
    serve(create_app(settings), host=settings.HOST, port=settings.PORT)


if __name__ == "__main__":
    main()
