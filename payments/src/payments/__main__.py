from common.service import configure_logging, serve
from common.settings import load_settings
from payments.app import create_app
from payments.settings import PaymentsSettings


def main() -> None:
    configure_logging("payments")
    settings = load_settings(PaymentsSettings)
    serve(create_app(settings), host=settings.HOST, port=settings.PORT)


if __name__ == "__main__":
    main()
