"""The control protocol between the command-line tools and quorated: one schema, shared by both sides.

Theory of operation: a request is one JSON object on one line, tagged by its ``cmd``; msgspec decodes it into one
of the structs below, checking every field's type, so the daemon never reads a loose dictionary and a bad
request is refused with msgspec's located message ("Expected `int`, got `str` - at `$.votes`"). ``raw`` asks for
the plain-text answer the status commands print (``OK`` or ``ERR`` on the first line, then the text): those
commands build their line by hand on the interpreter's built-in modules (`quorate.cli.fastclient`), and a test
decodes their lines with this schema so that both stay the same protocol.

Answers are JSON objects too: `Answer` for most requests (``ok``, a human ``error`` or ``text``, and a
machine-readable ``code`` when refused), `ServiceAnswer` for clusvcadm, `WhyAnswer` for `quorate why`,
`StatusAnswer` carrying the status document (`quorate.node.status.StatusDoc`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from quorate.node.status import StatusDoc

MAX_REQUEST = 2 * 1024 * 1024  # a whole cluster.conf travels in `config_push`


class Req(msgspec.Struct, kw_only=True, tag_field="cmd", forbid_unknown_fields=True):
    raw: bool = False


class Status(Req, tag="status"):
    """`quorate status --json`, clustat --json, metrics: the whole status document."""


class StatusText(Req, tag="status_text"):
    """`quorate status` (text, laid out by the daemon), or with ``as_json`` the document as indented JSON."""

    as_json: bool = False


class CmanStatus(Req, tag="cman_status"):
    """`cman_tool status` (text)."""


class CmanNodes(Req, tag="cman_nodes"):
    addresses: bool = False
    only: str | None = None


class CmanVersion(Req, tag="cman_version"):
    pass


class CmanServices(Req, tag="cman_services"):
    pass


class Clustat(Req, tag="clustat"):
    member: str | None = None
    service: str | None = None
    quiet: bool = False
    xml: bool = False


class FenceLs(Req, tag="fence_ls"):
    pass


class Expected(Req, tag="expected"):
    votes: int


class Leave(Req, tag="leave"):
    remove: bool = False
    force: bool = False


class Join(Req, tag="join"):
    pass


class Kill(Req, tag="kill"):
    node: str


class FenceAck(Req, tag="fence_ack"):
    node: str


class FenceNode(Req, tag="fence_node"):
    node: str


class ConfigPush(Req, tag="config_push"):
    data: str
    dry_run: bool = False


class Svc(Req, tag="svc"):
    """A clusvcadm operation: enable, disable, stop, relocate, restart, freeze, unfreeze."""

    op: str
    service: str
    target: str | None = None


class LockSession(Req, tag="lock_session"):
    """Opens a lock session: the connection then carries one lock operation per line (`lock_sessions`)."""

    client: str = "client"


class Locks(Req, tag="locks"):
    pass


class LvmRefresh(Req, tag="lvm_refresh"):
    vg: str = ""
    timeout: float = 30.0


class Lvs(Req, tag="lvs"):
    """`quorate lvs`: the virtual services this node directs, with health and live counters (answered by the
    control server itself from the lvs agent's table: `control.answer_lvs`)."""


class Why(Req, tag="why"):
    """`quorate why [NAME]`: why a service is where it is, a node's membership and fencing, or (no name) quorum."""

    name: str | None = None


class Timeline(Req, tag="timeline"):
    """`quorate timeline`: every member's decision events in [since, until] (wall-clock seconds, 0: open), merged;
    ``wait_ms``: how long to wait for the other members' answers."""

    since: int = 0
    until: int = 0
    service: str | None = None
    node: str | None = None
    kind: str | None = None
    json: bool = False
    utc: bool = False
    wait_ms: int = 1000


class KeyRotate(Req, tag="key_rotate"):
    """`quorate key rotate`: a new random key, distributed to every member under the current one."""

    grace: int = 86400


class KeyStatus(Req, tag="key_status"):
    """`quorate key status`: the rotation's phase, per node as this node knows it (JSON in ``text``)."""


class KeyFetchReq(Req, tag="key_fetch"):
    """`quorate key fetch`: obtain the key of a rotation this node missed, from a member."""


Request = (
    Status
    | StatusText
    | CmanStatus
    | CmanNodes
    | CmanVersion
    | CmanServices
    | Clustat
    | FenceLs
    | Expected
    | Leave
    | Join
    | Kill
    | FenceAck
    | FenceNode
    | ConfigPush
    | Svc
    | LockSession
    | Locks
    | LvmRefresh
    | Lvs
    | Why
    | Timeline
    | KeyRotate
    | KeyStatus
    | KeyFetchReq
)

SESSIONS = ("lock_session", "locks", "lvm_refresh")  # commands whose handler keeps the connection


class Answer(msgspec.Struct, omit_defaults=True):
    """The answer to most requests; ``code`` says why a refusal happened, for programs (`node_io.Refusal`)."""

    ok: bool
    error: str | None = None
    code: str = ""
    text: str = ""


class ServiceAnswer(msgspec.Struct):
    """clusvcadm's answer: whether the operation completed, rgmanager's result string, the owner now."""

    ok: bool
    done: bool
    result: str
    owner: str = ""


class WhyAnswer(msgspec.Struct):
    """`quorate why`'s answer: what was explained, the sentence, and the facts it rests on."""

    ok: bool
    kind: str  # "service", "node" or "quorum"
    subject: str
    sentence: str
    facts: dict[str, Any]


class StatusAnswer(msgspec.Struct):
    ok: bool
    status: StatusDoc


_decoder = msgspec.json.Decoder(Request)
_encoder = msgspec.json.Encoder()


class BadRequest(ValueError):
    """A request that does not follow the schema; the message says where."""


def decode_request(line: bytes) -> Request:
    try:
        return _decoder.decode(line)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"bad request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"bad request: not a JSON object ({exc})") from None
    except RecursionError:  # a value nested thousands deep, met before the tag says which struct it is
        raise BadRequest("bad request: nested too deeply") from None


def encode(answer: msgspec.Struct | dict[str, Any]) -> bytes:
    return _encoder.encode(answer)


def request_line(req: Request) -> bytes:
    """A request as the client sends it: one JSON line."""
    return _encoder.encode(req) + b"\n"


BY_TAG: dict[str, type[Req]] = {str(t.__struct_config__.tag): t for t in Req.__subclasses__()}


def make_request(cmd: str, **args: Any) -> Request:
    """The request ``cmd`` with ``args``, checked against the schema before it is sent."""
    kind = BY_TAG.get(cmd)
    if kind is None:
        raise BadRequest(f"unknown command {cmd!r}")
    try:
        return msgspec.convert({"cmd": cmd, **args}, Request)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"bad request: {exc}") from None


def decode_status(data: bytes) -> StatusDoc:
    """The status document of a `Status` answer, checked against its schema."""
    return msgspec.json.decode(data, type=StatusAnswer).status
