"""Object storage with one global resourceVersion counter, an event history for watches, and
persistence to a JSON file so a restarted emulator keeps its objects and its counter."""

from __future__ import annotations

import bisect
import copy
import json
import os
import threading
from dataclasses import dataclass

Key = tuple[str, str]  # (group, plural)


@dataclass
class Event:
    rv: int
    key: Key
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict
    prev: dict | None  # the object before a MODIFIED/DELETED, for selector transitions

    def to_json(self) -> dict:
        return {"rv": self.rv, "key": list(self.key), "type": self.type, "obj": self.obj, "prev": self.prev}

    @staticmethod
    def from_json(d: dict) -> "Event":
        return Event(d["rv"], tuple(d["key"]), d["type"], d["obj"], d.get("prev"))


class Store:
    def __init__(self, history_limit: int = 10000):
        self.cond = threading.Condition(threading.RLock())
        self.rv = 0
        self.objects: dict[Key, dict[tuple[str, str], dict]] = {}
        self.history: list[Event] = []
        self.history_rvs: list[int] = []
        self.history_start = 0  # every event with rv > history_start is in history
        self.history_limit = history_limit
        self.stopped = False
        self.dirty = False

    # ------------------------------------------------------------ reads (callers hold no lock)
    def get(self, key: Key, ns: str, name: str) -> dict | None:
        with self.cond:
            obj = self.objects.get(key, {}).get((ns, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(self, key: Key, ns: str | None) -> tuple[list[dict], int]:
        """Objects sorted by namespace and name, and the resourceVersion they reflect."""
        with self.cond:
            items = [
                copy.deepcopy(o) for (ons, _), o in sorted(self.objects.get(key, {}).items()) if ns is None or ons == ns
            ]
            return items, self.rv

    def keys_in_namespace(self, ns: str) -> list[tuple[Key, str]]:
        with self.cond:
            return [(k, name) for k, objs in self.objects.items() for (ons, name) in objs if ons == ns]

    # ------------------------------------------------------------ writes
    def _record(self, key: Key, etype: str, obj: dict, prev: dict | None) -> None:
        self.history.append(Event(self.rv, key, etype, copy.deepcopy(obj), prev))
        self.history_rvs.append(self.rv)
        if len(self.history) > self.history_limit:
            cut = len(self.history) // 2
            self.history_start = self.history_rvs[cut - 1]
            del self.history[:cut]
            del self.history_rvs[:cut]
        self.dirty = True
        self.cond.notify_all()

    def put(self, key: Key, obj: dict, prev: dict | None) -> dict:
        """Store ``obj`` under a new resourceVersion; returns the stored copy."""
        with self.cond:
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rv)
            meta = obj["metadata"]
            self.objects.setdefault(key, {})[(meta.get("namespace", ""), meta["name"])] = obj
            self._record(key, "MODIFIED" if prev is not None else "ADDED", obj, prev)
            return copy.deepcopy(obj)

    def remove(self, key: Key, ns: str, name: str) -> dict | None:
        with self.cond:
            prev = self.objects.get(key, {}).pop((ns, name), None)
            if prev is None:
                return None
            self.rv += 1
            gone = copy.deepcopy(prev)
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self._record(key, "DELETED", gone, prev)
            return copy.deepcopy(gone)

    # ------------------------------------------------------------ watch support
    def events_after(self, rv: int) -> list[Event] | None:
        """Events with resourceVersion > rv, or None when history no longer reaches back to rv."""
        with self.cond:
            if rv < self.history_start:
                return None
            return self.history[bisect.bisect_right(self.history_rvs, rv) :]

    def wait_after(self, rv: int, timeout: float) -> None:
        with self.cond:
            if self.rv <= rv and not self.stopped:
                self.cond.wait(timeout)

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()

    # ------------------------------------------------------------ persistence
    def save(self, path: str, keep_history: int = 2000) -> None:
        with self.cond:
            state = {
                "version": 1,
                "rv": self.rv,
                "objects": [{"key": list(k), "obj": o} for k, objs in self.objects.items() for o in objs.values()],
                "history": [e.to_json() for e in self.history[-keep_history:]],
            }
            if len(self.history) > keep_history:
                state["historyStart"] = self.history_rvs[-keep_history - 1]
            else:
                state["historyStart"] = self.history_start
            self.dirty = False
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(tmp, path)

    def load(self, path: str) -> bool:
        if not os.path.exists(path):
            return False
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
        with self.cond:
            self.rv = int(state["rv"])
            self.objects = {}
            for item in state["objects"]:
                meta = item["obj"]["metadata"]
                self.objects.setdefault(tuple(item["key"]), {})[(meta.get("namespace", ""), meta["name"])] = item["obj"]
            self.history = [Event.from_json(e) for e in state.get("history", [])]
            self.history_rvs = [e.rv for e in self.history]
            self.history_start = int(state.get("historyStart", self.rv))
        return True
