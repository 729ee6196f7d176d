from common.service import configure_logging, serve
from common.settings import load_settings
from expiration.app import create_app
from expiration.settings import ExpirationSettings


def main() -> None:
    configure_logging("expiration")
    settings = load_settings(ExpirationSettings)
    serve(create_app(settings), host=settings.HOST, port=settings.PORT)


if __name__ == "__main__":
    main()
