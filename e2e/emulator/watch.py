"""Watch streams: the initial state or a replay from a resourceVersion, then live events filtered
by namespace and selectors, bookmarks, 410 Expired for versions older than the history, and the
streaming-list end marker (``sendInitialEvents``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .errors import bad_request, gone

BOOKMARK_INTERVAL = 5.0
DEFAULT_WATCH_TIMEOUT = 1800.0


@dataclass
class _Stream:
    api: object
    rt: object
    match: object
    partial: bool
    last: int
    deadline: float
    bookmarks: bool
    send_initial: bool
    too_old: bool
    initial: list = field(default_factory=list)

    def out(self, etype: str, obj: dict) -> dict:
        return {"type": etype, "object": self.api.render(self.rt, obj, self.partial)}

    def bookmark(self, initial_end: bool = False) -> dict:
        meta: dict = {"resourceVersion": str(self.last)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {
            "type": "BOOKMARK",
            "object": {"apiVersion": self.rt.group_version, "kind": self.rt.kind, "metadata": meta},
        }

    def expired(self) -> dict:
        err = gone(f"too old resource version: {self.last} ({self.api.store.history_start + 1})")
        return {"type": "ERROR", "object": err.status()}

    def translate(self, e) -> dict | None:
        """A stored event as this watch sees it: selector transitions become ADDED or DELETED."""
        if e.key != self.rt.key:
            return None
        was, now = self.match(e.prev), e.type != "DELETED" and self.match(e.obj)
        if e.type == "ADDED" and now:
            return self.out("ADDED", e.obj)
        if e.type == "MODIFIED" and (was or now):
            return self.out("MODIFIED" if was and now else ("ADDED" if now else "DELETED"), e.obj)
        if e.type == "DELETED" and was:
            return self.out("DELETED", e.obj)
        return None

    def run(self):
        store = self.api.store
        if self.too_old:
            yield self.expired()
            return
        yield from self.initial
        if self.send_initial:
            yield self.bookmark(initial_end=True)
        last_bookmark = time.monotonic()
        while not store.stopped:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                return
            events = store.events_after(self.last)
            if events is None:
                yield self.expired()
                return
            for e in events:
                self.last = e.rv
                event = self.translate(e)
                if event is not None:
                    yield event
            if events:
                continue
            store.wait_after(self.last, min(remaining, BOOKMARK_INTERVAL))
            if self.bookmarks and time.monotonic() - last_bookmark >= BOOKMARK_INTERVAL:
                last_bookmark = time.monotonic()
                yield self.bookmark()
            else:
                yield None  # a chance for the caller to notice a client that went away


def open_watch(api, rt, ns: str | None, ctx):
    """Checks the request (400 before any header is sent), then returns a generator of events
    (dicts, or None as a heartbeat) that ends at ``timeoutSeconds`` or when the store stops."""
    params = ctx.params
    rv_param = params.get("resourceVersion") or ""
    send_initial = params.get("sendInitialEvents") == "true"
    try:
        timeout = float(params.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
    except ValueError as exc:
        raise bad_request(f"invalid timeoutSeconds: {params.get('timeoutSeconds')}") from exc
    stream = _Stream(
        api=api,
        rt=rt,
        match=api.matcher(rt, ns, params),
        partial=ctx.partial,
        last=0,
        deadline=time.monotonic() + timeout,
        bookmarks=params.get("allowWatchBookmarks") == "true",
        send_initial=send_initial,
        too_old=False,
    )
    with api.store.cond:
        if rv_param in ("", "0") or send_initial:
            items, stream.last = api.store.list(rt.key, ns)
            stream.initial = [stream.out("ADDED", o) for o in items if stream.match(o)]
        else:
            try:
                stream.last = int(rv_param)
            except ValueError as exc:
                raise bad_request(f"invalid resource version: {rv_param}") from exc
            stream.too_old = api.store.events_after(stream.last) is None
    return stream.run()
