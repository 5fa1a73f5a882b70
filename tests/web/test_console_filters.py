"""The console's incident list: its query parameters read into filters, or a sentence saying what to do."""

from __future__ import annotations

import pytest

from warroom.web.console.filters import MAX_PAGE, MAX_TEXT, PAGE_SIZE, Filters, parse

SERVICES = ["checkout-api", "payments"]
PRIORITIES = ["P1", "P2", "P3"]


def read(**params: str) -> Filters | str:
    return parse(params, SERVICES, PRIORITIES)


def test_nothing_asked_is_every_incident_the_first_page() -> None:
    assert read() == Filters(status="all", service="", priority="", text="", page=1)
    query = Filters().query()
    assert (query.status, query.service, query.priority, query.text, query.offset, query.limit) == (
        "all", None, None, "", 0, PAGE_SIZE)


def test_every_filter_is_read_and_the_page_becomes_an_offset() -> None:
    found = read(status="Open", service="payments", priority="P1", q="  card   gateway ", page="3")
    assert found == Filters(status="open", service="payments", priority="P1", text="card gateway", page=3)
    assert isinstance(found, Filters)
    query = found.query()
    assert (query.service, query.priority, query.text, query.offset) == ("payments", "P1", "card gateway",
                                                                         2 * PAGE_SIZE)
    # the links to other pages keep the filters and leave the defaults out
    assert found.params(page=4) == {"status": "open", "service": "payments", "priority": "P1", "q": "card gateway",
                                    "page": "4"}
    assert Filters().params(page=1) == {}


def test_empty_values_mean_any_and_unknown_parameters_are_ignored() -> None:
    assert read(status="", service="", priority="", q="", page="", utm_source="mail") == Filters()


@pytest.mark.parametrize(("params", "said"), [
    ({"status": "closed"}, "Unknown status 'closed'. Choose open, resolved or all."),
    ({"service": "billing"}, "No service is called 'billing'. Choose one of the services (checkout-api, payments), "
                             "or any."),
    ({"priority": "SEV1"}, "Unknown priority 'SEV1'. Choose one of P1, P2, P3, or any."),
    ({"q": "x" * (MAX_TEXT + 1)}, f"The title search is {MAX_TEXT + 1} characters long; search for at most "
                                  f"{MAX_TEXT}."),
    ({"page": "0"}, f"Page '0' is not a page number: give a whole number from 1 to {MAX_PAGE}."),
    ({"page": "-2"}, f"Page '-2' is not a page number: give a whole number from 1 to {MAX_PAGE}."),
    ({"page": "²"}, f"Page '²' is not a page number: give a whole number from 1 to {MAX_PAGE}."),
    ({"page": "9" * 5000}, f"Page '{'9' * 40}…' is not a page number: give a whole number from 1 to {MAX_PAGE}."),
    ({"page": str(MAX_PAGE + 1)}, f"Page '{MAX_PAGE + 1}' is not a page number: give a whole number from 1 to "
                                  f"{MAX_PAGE}."),
])
def test_a_bad_value_is_a_sentence_saying_what_to_do(params: dict[str, str], said: str) -> None:
    assert read(**params) == said


def test_service_and_priority_are_matched_exactly() -> None:
    assert isinstance(read(service="Payments"), str)  # service names are case-sensitive, as in the settings
    assert isinstance(read(priority="p1"), str)


def test_the_pager_links_keep_the_filters() -> None:
    assert Filters().pager(PAGE_SIZE) is None  # one page: no pager
    first = Filters(status="open", text="db down").pager(PAGE_SIZE * 2 + 1)
    assert first == {"page": 1, "pages": 3, "previous": None, "next": "/console?status=open&q=db+down&page=2"}
    second = Filters(page=2).pager(PAGE_SIZE + 1)
    assert second == {"page": 2, "pages": 2, "previous": "/console", "next": None}
    past = Filters(page=9).pager(PAGE_SIZE + 1)  # past the last page: back to the last one
    assert past == {"page": 9, "pages": 2, "previous": "/console?page=2", "next": None}
