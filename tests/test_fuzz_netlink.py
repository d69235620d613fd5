# Netlink fuzzing (tests/fuzz/nlfuzz.py) of the nft trait expression and
# of trait fib rules, in a namespace of its own: every refusal has an
# extack message, the model's verdict holds, accepted rules dump back.
# FUZZ_SEED repeats a run, FUZZ_MESSAGES sets its length; the summary is
# printed and kept in build/results/fuzz/.
import os
import re

import pytest

from conftest import ROOT

OUT = os.path.join(ROOT, "build", "results", "fuzz")
MESSAGES = int(os.environ.get("FUZZ_MESSAGES", "10000"))


@pytest.mark.parametrize("what", ["nft", "fib"])
def test_fuzzed_requests_are_refused_with_a_message_or_dump_back(netns, what):
    ns = netns("fz")
    p = ns.run(f"/usr/bin/python3 {ROOT}/tests/fuzz/nlfuzz.py {what} "
               f"--messages {MESSAGES}", check=False)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, f"netlink-{what}.txt"), "w") as f:
        f.write(p.stdout + p.stderr)
    print(p.stdout, p.stderr)
    assert p.returncode == 0, p.stdout + p.stderr
    m = re.search(r"(\d+) messages in .* (\d+) accepted, (\d+) refused", p.stdout)
    assert m, p.stdout
    sent, accepted, refused = map(int, m.groups())
    # every message was sent, and both the accept and the refuse paths ran
    assert sent == MESSAGES and accepted > 0 and refused > 0, p.stdout
