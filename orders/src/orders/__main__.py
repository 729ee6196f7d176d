from common.service import configure_logging, serve
from common.settings import load_settings
from orders.app import create_app
from orders.settings import OrdersSettings


def main() -> None:
    configure_logging("orders")
    settings = load_settings(OrdersSettings)
    serve(create_app(settings), host=settings.HOST, port=settings.PORT)


if __name__ == "__main__":
    main()
