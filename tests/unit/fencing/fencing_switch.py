"""The switch side of the fencing tests: a fake testbed backend and a handle on a switch bound to loopback."""

from __future__ import annotations

from dataclasses import dataclass, field

from quorate.testbed.conf import TestbedError

SECRET = "s3cret-switch"


@dataclass
class FakeBackend:
    """Three nodes with power flags; records every OFF/ON; ``fail`` makes power operations raise."""

    power: dict[str, bool] = field(
        default_factory=lambda: {
            "balthasar.localdomain": True,
            "casper.localdomain": True,
            "melchior.localdomain": True,
        }
    )
    calls: list[str] = field(default_factory=list)
    fail: bool = False

    def nodes(self) -> list[str]:
        return list(self.power)

    def resolve(self, name: str) -> str:
        for node in self.power:
            if name in (node, node.split(".", 1)[0]):
                return node
        raise TestbedError(f"unknown node {name!r}")

    def is_on(self, node: str) -> bool:
        return self.power[node]

    def _set(self, node: str, on: bool) -> None:
        self.calls.append(f"{'ON' if on else 'OFF'} {node}")
        if self.fail:
            raise RuntimeError("relay stuck")
        self.power[node] = on

    def off(self, node: str) -> None:
        self._set(node, False)

    def on(self, node: str) -> None:
        self._set(node, True)


@dataclass
class Switch:
    backend: FakeBackend
    port: int
    secret: str = SECRET

    def stdin(self, **options: str) -> str:
        """Agent input reaching this switch, plus ``options``."""
        base = {"ipaddr": "127.0.0.1", "ipport": str(self.port), "passwd": self.secret}
        base.update(options)
        return "".join(f"{name}={value}\n" for name, value in base.items())
