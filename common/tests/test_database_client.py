"""The database client's time limits: what bounds a request when the database is away."""

from common.database import OPERATION_TIMEOUT_MS, REPLICA_SET_SAFETY, client_options


def test_every_operation_is_bounded_and_replica_set_safe_by_default() -> None:
    options = client_options("mongodb://db:27017/tickets")
    assert options == {
        "timeoutMS": OPERATION_TIMEOUT_MS,
        "serverSelectionTimeoutMS": OPERATION_TIMEOUT_MS,
        "connectTimeoutMS": OPERATION_TIMEOUT_MS,
        **REPLICA_SET_SAFETY,
    }
    # A 503 must reach the client within 3 s, the service's own work included.
    assert OPERATION_TIMEOUT_MS <= 2000


def test_an_option_in_the_uri_wins_over_the_default() -> None:
    options = client_options("mongodb://a:27017,b:27017/tickets?replicaSet=rs0&TIMEOUTMS=5000")
    assert "timeoutMS" not in options
    assert options["serverSelectionTimeoutMS"] == OPERATION_TIMEOUT_MS
