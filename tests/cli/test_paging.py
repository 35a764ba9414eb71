"""all_pages, the CLI's one page-through loop: follows next_page_token, honours limits and the page size."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cxflow.commands.support import all_pages
from cxflow.v1 import common_pb2


@dataclass
class Reply:
    values: list[int]
    next_page_token: str


@dataclass
class PagedService:
    """Serves 0..total-1 in pages (default size 100, like the services), recording each PageRequest it gets."""

    total: int
    requests: list[common_pb2.PageRequest] = field(default_factory=list)

    def fetch(self, page: common_pb2.PageRequest) -> Reply:
        self.requests.append(page)
        start = int(page.page_token or 0)
        end = min(self.total, start + (page.page_size or 100))
        return Reply(list(range(start, end)), str(end) if end < self.total else "")


@pytest.mark.parametrize("total", [0, 1, 999, 1000, 2500])
def test_every_item_in_order_across_pages(total: int) -> None:
    service = PagedService(total)
    assert all_pages(service.fetch, lambda reply: reply.values) == list(range(total))
    assert [r.page_size for r in service.requests] == [1000] * max(1, -(-total // 1000))


@pytest.mark.parametrize(("total", "limit", "sizes"), [(2500, 1500, [1000, 500]), (2500, 10, [10]), (5, 10, [10]), (50, 0, [])])
def test_a_limit_asks_for_no_more_than_it_still_wants(total: int, limit: int, sizes: list[int]) -> None:
    service = PagedService(total)
    assert all_pages(service.fetch, lambda reply: reply.values, limit=limit) == list(range(min(total, limit)))
    assert [r.page_size for r in service.requests] == sizes


def test_no_page_size_leaves_it_to_the_service() -> None:
    service = PagedService(250)
    assert all_pages(service.fetch, lambda reply: reply.values, page_size=None) == list(range(250))
    assert [(r.page_size, r.page_token) for r in service.requests] == [(0, ""), (0, "100"), (0, "200")]
