from auth.app import create_app
from auth.settings import AuthSettings
from common.service import configure_logging, serve
from common.settings import load_settings


def main() -> None:
    configure_logging("auth")
    settings = load_settings(AuthSettings)
    serve(create_app(settings), host=settings.HOST, port=settings.PORT)


if __name__ == "__main__":
    main()
