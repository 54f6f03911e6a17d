"""A push typed on this node (`ccs_tool update`, `quorate config push`), followed until the coordinator answers.

Theory of operation
-------------------
The shell has validated the file here already. Some refusals need nobody else and are answered at once: a node
outside a quorate view cannot update anything, a version must be greater than the running one (ccs_tool's
words, both versions named), and a file has a size limit.

Otherwise the file goes, in push chunks, to the coordinator of the quorate view, the one authority, so two
pushes never interleave. It is sent again every `RESEND` seconds until the coordinator says it has it; on the
coordinator itself it is handed over at once. From then on the request only waits for the final answer
("Config file updated from version A to B", or refused and why). It fails, and this node keeps its version:

* when the coordinator that received it leaves the view before answering (the push may or may not have gone
  through: the versions the nodes run will tell);
* when the cluster loses quorum;
* when no answer comes within the push timeout plus two resends.

A request that no coordinator has received yet follows the view: it goes to the next coordinator instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from quorate.core.config_messages import PURPOSE_PUSH, CfgResult
from quorate.core.config_state import NOT_QUORATE, RESEND, ConfigState, PushDone, not_greater
from quorate.core.config_transfer import MAX_FILE_BYTES, chunks, digest_of


@dataclass
class PushRequest:
    """A push typed on this node, until the coordinator answers."""

    req: int
    version: int
    digest: str
    data: bytes
    deadline: float
    coordinator: int = 0
    received: bool = False
    last_send: float = -1.0


class Requests:
    """The pushes typed on this node that wait for their answer."""

    def __init__(self, state: ConfigState) -> None:
        self._state = state
        self.requests: dict[int, PushRequest] = {}

    def push(self, now: float, req: int, data: bytes, version: int) -> PushRequest | None:
        """A new push: None when it is refused at once (the answer is out), else the request, marked received
        when this node is the coordinator (the caller then begins the transaction)."""
        state = self._state
        if not state.in_quorate_view():
            state.effects.append(PushDone(req, False, NOT_QUORATE))
            return None
        if version <= state.version:
            state.effects.append(PushDone(req, False, not_greater(state.version, version)))
            return None
        if len(data) > MAX_FILE_BYTES:
            state.effects.append(PushDone(req, False, f"the file is larger than {MAX_FILE_BYTES} bytes"))
            return None
        request = PushRequest(req, version, digest_of(data), data, now + state.timeout + 2 * RESEND, state.coordinator)
        request.received = state.coordinator == state.local_id
        self.requests[req] = request
        return request

    def view_changed(self) -> None:
        """The members or the coordinator changed (the state has the new view already)."""
        state = self._state
        for request in list(self.requests.values()):
            if request.received and request.coordinator and request.coordinator not in state.members:
                left = f"the coordinator {state.name(request.coordinator)} left the view before it answered"
                self.finish(request.req, False, f"{left}; this node runs version {state.version}")
            elif not state.quorate:
                self.finish(request.req, False, NOT_QUORATE)
            elif not request.received:  # not yet with any coordinator: send it to the new one
                request.coordinator, request.last_send = state.coordinator, -1.0

    def on_result(self, sender: int, message: CfgResult) -> None:
        """The coordinator has the file (not done yet), or its final answer."""
        request = self.requests.get(message.req)
        if request is None:
            return
        if not message.done:
            request.received = True
            request.coordinator = sender
            return
        self.finish(message.req, message.ok, message.text)

    def finish(self, req: int, ok: bool, text: str) -> None:
        if self.requests.pop(req, None) is not None:
            self._state.effects.append(PushDone(req, ok, text))

    def pump(self, now: float) -> None:
        """Give up on requests past their deadline; send again those no coordinator has received."""
        state = self._state
        for request in list(self.requests.values()):
            if now >= request.deadline:
                late = f"no answer from the coordinator in time; this node runs version {state.version}"
                self.finish(request.req, False, late)
            elif not request.received and now >= request.last_send + RESEND and request.coordinator:
                request.last_send = now
                for chunk in chunks(PURPOSE_PUSH, request.req, request.version, request.digest, request.data):
                    state.send((request.coordinator,), chunk)

    def deadlines(self) -> list[float]:
        times: list[float] = []
        for request in self.requests.values():
            times.append(request.deadline)
            if not request.received:
                times.append(request.last_send + RESEND)
        return times
