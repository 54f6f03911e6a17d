"""Quorum-disk benchmark on the testbed (needs root): two nodes lost -> the survivor quorate with the disk's votes.

    sudo .venv/bin/python bench/qdisk.py [--runs 3] [--article-runs 1]

The article's cluster.conf (three nodes of one vote, `<quorumd votes="2" label="magi_qdisk">`, expected 3) on a
loop device prepared with the real `mkqdisk`. Two daemons are SIGKILLed at once; the figure is the time until the
survivor's `quorate status --json` says quorate with 3 total votes (its own vote and the disk's two) in a view
of itself alone. Two cases, because they differ by design: the survivor is the disk's master (it keeps the votes
as soon as the view shrinks), or the master was among the dead (the survivor waits for the master's block to go
stale, `tko` intervals, then is elected after `master_wait` cycles). Two timing profiles: short (interval 1 s,
tko 4, token 5 s) and the article's (interval 3 s, tko 20, token 10 s; slow, so fewer runs). Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from quorate.testbed import Testbed, luns

ARTICLE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "article" / "cluster-1.conf"
QUORATE = [sys.executable, "-m", "quorate.cli.main"]
PROFILES = {
    "short (interval 1 s, tko 4, token 5 s)": (1, 4, 5000),
    "article (interval 3 s, tko 20, token 10 s)": (3, 20, 10000),
}


def conf_for(directory: Path, interval: int, tko: int, token: int) -> Path:
    text = ARTICLE.read_text().replace("\u00a0", " ")
    text = re.sub(r'interval="\d+"', f'interval="{interval}"', text, count=1)
    text = re.sub(r'tko="\d+"', f'tko="{tko}"', text, count=1)
    text = text.replace("<clusternodes>", f'<totem token="{token}"/>\n  <clusternodes>', 1)
    path = directory / "cluster.conf"
    path.write_text(text)
    return path


def status(tb: Testbed, node: str) -> dict | None:  # type: ignore[type-arg]
    done = tb.exec(node, [*QUORATE, "status", "--json"], timeout=20)
    return json.loads(done.stdout) if done.returncode == 0 else None


def wait(what: str, probe, timeout: float, interval: float = 0.1) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if probe():
            return
        time.sleep(interval)
    raise SystemExit(f"bench: timed out after {timeout:.0f} s waiting for {what}")


def one_run(conf: Path, lun: str, *, survivor_is_master: bool, timeout: float) -> float:
    subprocess.run([str(Path(sys.executable).with_name("mkqdisk")), "-c", lun, "-l", "magi_qdisk", "-y"],
                   capture_output=True, check=True, timeout=60)  # fmt: skip
    with Testbed.up(conf, prefix="qbqd") as tb:
        names = list(tb.nodes)

        def everyone_counts_the_disk() -> bool:
            docs = [status(tb, n) for n in names]
            return all(d is not None and d["total_votes"] == 5 and d["qdisk"].get("master") for d in docs)

        wait("three nodes counting the disk's votes", everyone_counts_the_disk, timeout)
        doc = status(tb, names[0])
        assert doc is not None
        master = {n["nodeid"]: n["name"] for n in doc["nodes"]}[int(doc["qdisk"]["master"])]
        survivor = master if survivor_is_master else next(n for n in names if n != master)
        victims = [n for n in names if n != survivor]
        began = time.monotonic()
        for victim in victims:
            tb.kill(victim, signal.SIGKILL)

        def survivor_alone_and_quorate() -> bool:
            d = status(tb, survivor)
            return d is not None and len(d["members"]) == 1 and d["quorate"] and d["total_votes"] == 3

        wait("the survivor quorate with the disk", survivor_alone_and_quorate, timeout, interval=0.05)
        return (time.monotonic() - began) * 1000


def summary(name: str, values: list[float]) -> None:
    print(f"{name:<78} min {min(values):9.0f} ms  median {statistics.median(values):9.0f} ms  "
          f"max {max(values):9.0f} ms  (n={len(values)})", flush=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per case with the short timings")
    parser.add_argument("--article-runs", type=int, default=1, help="runs per case with the article's timings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="quorate-bench-qdisk-") as tmp:
        lun = luns.attach_image(Path(tmp) / "qdisk.img", 16)
        try:
            for profile, (interval, tko, token) in PROFILES.items():
                runs = args.runs if interval == 1 else args.article_runs
                if runs <= 0:
                    continue
                conf = conf_for(Path(tmp), interval, tko, token)
                timeout = 60 + interval * tko * 4 + token / 1000 * 3
                for is_master in (True, False):
                    figures = [one_run(conf, lun, survivor_is_master=is_master, timeout=timeout) for _ in range(runs)]
                    case = "survivor was the master" if is_master else "master among the dead"
                    summary(f"two nodes lost -> survivor quorate, {profile}, {case}", figures)
        finally:
            luns.detach(lun)
    return 0


if __name__ == "__main__":
    sys.exit(main())
