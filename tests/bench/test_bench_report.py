"""The benchmark's arithmetic and table (`make bench` itself is not part of the tests): ratios
to ceilings, targets met or not, wrk's report read, and the figure groups chosen."""

import pytest

from benchmarks import wrk
from benchmarks.__main__ import arguments, missed
from benchmarks.figures import chosen
from benchmarks.report import Figure, at_least, at_most, markdown_table, ratio_of, text_table
from benchmarks.stack import mongo_server_from_env

WRK_REPORT = """Running 2s test @ http://127.0.0.1:8080
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    25.03ms    4.11ms  60.20ms   90.00%
    Req/Sec     1.28k   100.00     1.40k    80.00%
  Latency Distribution
     50%   24.50ms
     75%   26.00ms
     90%   28.00ms
     99%    1.20s
  2562 requests in 2.00s, 512.40KB read
  Socket errors: connect 0, read 0, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   1279.50
Transfer/sec:    256.00KB
"""


def test_wrk_report_is_read() -> None:
    run = wrk.parse(WRK_REPORT)
    assert run.rate == 1279.5
    assert run.requests == 2562
    assert run.p50 == pytest.approx(0.0245)
    assert run.p99 == pytest.approx(1.2)
    assert run.non_2xx == 7
    assert run.socket_errors == 3
    assert not run.clean


def test_a_report_without_figures_is_an_error() -> None:
    with pytest.raises(ValueError, match="no figures"):
        wrk.parse("unable to connect to 127.0.0.1:8080 Connection refused")


def test_ratio_targets_are_judged_on_the_ratio() -> None:
    share = Figure("POST / bare", "90 vs 200", at_least(0.40, "%"), ratio=ratio_of(90, 200))
    assert share.ratio == 0.45
    assert share.met is True
    assert Figure("x", "", at_least(0.40, "%"), ratio=ratio_of(70, 200)).met is False
    growth = Figure("page 100k / 1k", "", at_most(1.5, "x"), ratio=ratio_of(6.0, 3.0))
    assert growth.met is False
    assert Figure("page", "", at_most(1.5, "x"), ratio=1.5).met is True


def test_absolute_targets_are_judged_on_the_value() -> None:
    assert Figure("sign-in", "30/s", at_least(25, "/s"), value=30).met is True
    assert Figure("p99", "1.2 s", at_most(1.0, " s"), value=1.2).met is False


def test_check_fails_only_on_a_figure_that_missed_its_target() -> None:
    """`--check` (as the bench workflow runs it) exits 1 exactly when `missed` finds one."""
    met = Figure("a", "", at_least(0.4, "%"), ratio=0.5)
    short = Figure("b", "", at_least(0.4, "%"), ratio=0.3)
    untargeted = Figure("ceiling", "9,000 msg/s", None)
    assert missed([met, untargeted]) == []
    assert missed([met, short, untargeted]) == [short]
    assert arguments(["--check", "--only", "create,orders"]).check is True
    assert arguments([]).check is False


def test_a_wrong_answer_is_never_met() -> None:
    """Errors under load, or more than one winner, fail a figure whatever its numbers."""
    assert Figure("x", "", at_least(0.1, "%"), ratio=0.9, correct=False).met is False
    assert Figure("ceiling", "3,000 msg/s", value=3000).met is None
    assert Figure("ceiling", "", value=1, correct=False).met is False


def test_a_ceiling_that_could_not_be_measured_gives_no_ratio_to_meet() -> None:
    assert ratio_of(50, 0) == 0.0
    assert Figure("x", "", at_least(0.25, "%"), ratio=ratio_of(50, 0)).met is False


def test_tables_show_ratio_target_and_verdict() -> None:
    figures = [
        Figure("GET /a / bare", "50 vs 100", at_least(0.70, "%"), ratio=0.5),
        Figure("first page 100k / 1k", "4 ms vs 3 ms", at_most(1.5, "x"), ratio=4 / 3),
        Figure("memory: auth", "90 MiB", at_most(256, " MiB"), value=120),
    ]
    text = text_table(figures).splitlines()
    assert text[0].split() == ["figure", "measured", "ratio", "target", "met?", "note"]
    assert "50.0 %" in text[2]
    assert ">= 70.0 %" in text[2]
    assert text[2].rstrip().endswith("NO")
    assert "1.33x" in text[3]
    assert "<= 1.50x" in text[3]
    assert text[3].rstrip().endswith("yes")
    assert "<= 256 MiB" in text[4]
    markdown = markdown_table(figures).splitlines()
    assert markdown[0] == "| figure | measured | ratio | target | met? | note |"
    assert markdown[2].startswith("| GET /a / bare | 50 vs 100 | 50.0 % | >= 70.0 % | NO |")


def test_groups_are_chosen_in_order_and_list_with_pages_runs_once() -> None:
    everything = chosen(None)
    assert everything[0] == "currentuser"
    assert everything[-1] == "memory"
    assert "catalogue" in everything
    assert "list" not in everything
    assert chosen(["memory", "list"]) == ["list", "memory"]
    assert chosen(["pages", "list"]) == ["catalogue"]
    with pytest.raises(ValueError, match="no such figures: nope"):
        chosen(["nope"])


def test_each_request_of_an_order_run_takes_its_own_ticket() -> None:
    script = wrk.lua_script(
        wrk.Request("/api/orders", method="POST", ticket_ids=["a" * 24, "b" * 24])
    )
    assert '"{\\"ticketId\\": \\"' + "a" * 24 in script
    assert "function init(args) n = tonumber(args[1] or '0') end" in script
    assert '"Content-Type"' in script


def test_error_answers_are_not_throughput() -> None:
    run = wrk.parse(WRK_REPORT)
    assert run.answered_rate == pytest.approx(1279.5 * (2562 - 7) / 2562)


@pytest.mark.parametrize(
    ("uri", "server"),
    [
        (None, None),
        ("", None),
        (
            "mongodb://localhost:27017/ticketing_test?replicaSet=rs0",
            "mongodb://localhost:27017/?replicaSet=rs0",
        ),
        ("mongodb://localhost:27017", "mongodb://localhost:27017/"),
        ("mongodb://a:1,b:2/x", "mongodb://a:1,b:2/"),
    ],
)
def test_the_benchmark_takes_its_mongodb_from_mongo_uri_as_the_tests_do(
    monkeypatch: pytest.MonkeyPatch, uri: str | None, server: str | None
) -> None:
    if uri is None:
        monkeypatch.delenv("MONGO_URI", raising=False)
    else:
        monkeypatch.setenv("MONGO_URI", uri)
    assert mongo_server_from_env() == server
