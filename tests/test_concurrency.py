# Rules come and go under traffic: senders in two namespaces stream
# tagged packets through a router while nft trait rules and `ip rule
# trait` rules are added and deleted and nft_meta_trait is unloaded and
# loaded again. Any splat fails the run (tools/vm-run). The churn lasts
# at least CHURN_SECONDS and as many rounds as it must to prove anything,
# however slow the machine; traffic goes on until it ends, and every
# incarnation of the rules has to match some of it.
#
#   a1 (10.1.0.1, trait 7 = 1) -x1-+
#                                  r -- ua: main table, uplink A
#   a2 (10.2.0.1, trait 7 = 2) -x2-+ -- ub: table 100, uplink B
import os
import subprocess
import time

import nftnl as n
from conftest import Nft, sh, uplinks, veth
from traffic import udp_blast

CHURN_SECONDS = 60
MIN_ROUNDS, MIN_IP_ROUNDS = 2, 3    # module reloads and ip rule rounds, at least
SENDER_RATE = 1000              # packets/s from each sender
MATCH_TIMEOUT = 60              # seconds a table may wait for its first packets
MODULE = "nft_meta_trait"


def module_loaded():
    with open("/proc/modules") as f:
        return any(line.split()[0] == MODULE for line in f)


def rmmod():
    return sh(f"rmmod {MODULE}", check=False)


def churn_ip_rules(seconds):
    """Add and delete a trait rule (and a fwmark one beside it) in a loop,
    for seconds and MIN_IP_ROUNDS rounds at least."""
    rounds, end = 0, time.monotonic() + seconds
    while time.monotonic() < end or rounds < MIN_IP_ROUNDS:
        for cmd in ("add", "del"):
            for rule in ("pref 100 trait 7 value 1 table 100",
                         "pref 101 trait 7 table 100", "pref 102 fwmark 9 table 100"):
                subprocess.run(f"ip rule {cmd} {rule}".split(), check=True)
        rounds += 1
    return rounds


def send_until(stop):
    """Paced datagrams to the uplinks' server until the file stop exists;
    returns how many were sent."""
    sent = 0
    while not os.path.exists(stop):
        sent += udp_blast("198.51.100.1", 9000, SENDER_RATE // 10, b"c" * 64, "", 16,
                          None, SENDER_RATE)[0]
    return sent


class Router:
    def __init__(self, netns, xdp_tagger):
        self.a1, self.a2, self.r = netns("a1"), netns("a2"), netns("r")
        veth(self.a1, "x1", self.r, "r1", ("10.1.0.1/24",), ("10.1.0.254/24",))
        veth(self.a2, "x2", self.r, "r2", ("10.2.0.1/24",), ("10.2.0.254/24",))
        self.a1.run("ip route add default via 10.1.0.254")
        self.a2.run("ip route add default via 10.2.0.254")
        self.tx = uplinks(netns, self.r)       # (A, B) packets sent so far
        xdp_tagger(self.r, "r1").tag("10.1.0.1", (7, 4, 1))
        xdp_tagger(self.r, "r2").tag("10.2.0.1", (7, 4, 2))
        for a in (self.a1, self.a2):                # resolve neighbours
            a.call(udp_blast, "198.51.100.1", 9000, 3)

    def send(self, a, count):
        """Uplink (A, B) packet counts of count datagrams from a."""
        before = self.tx()
        a.call(udp_blast, "198.51.100.1", 9000, count)
        after = self.tx()
        return after[0] - before[0], after[1] - before[1]


def trait_table(r):
    """A forward chain counting trait 7 == 1, 7 == 2 and trait 7 present."""
    t = Nft(r, table="churn")
    t.chain("fw", "forward")
    for c in ("one", "two", "any"):
        t.counter(c)
    t.rule("fw", n.trait_load(7), n.cmp("==", n.host(1)), n.counter("c_one"))
    t.rule("fw", n.trait_load(7), n.cmp("==", n.host(2)), n.counter("c_two"))
    t.rule("fw", n.trait_present(7), n.cmp("==", b"\1"), n.counter("c_any"))
    return t


def matched(t):
    """(a1's, a2's) packets the churned table t counted by their trait,
    once it has counted some of each (or MATCH_TIMEOUT passed)."""
    end = time.monotonic() + MATCH_TIMEOUT
    while True:
        one, two = t.packets("one"), t.packets("two")
        if (one > 0 and two > 0) or time.monotonic() > end:
            return one, two
        time.sleep(0.1)


def test_rules_and_module_churn_under_traffic(netns, xdp_tagger, tmp_path):
    # the races this looks for need two CPUs (tools/vm-run gives the guest two)
    assert len(os.sched_getaffinity(0)) >= 2, "the guest has one CPU"
    net = Router(netns, xdp_tagger)
    r = net.r
    end = time.monotonic() + CHURN_SECONDS
    stop = str(tmp_path / "stop")
    # paced, or the guest's CPUs have no time left for the churn
    senders = [a.start(send_until, stop) for a in (net.a1, net.a2)]
    rules = r.start(churn_ip_rules, CHURN_SECONDS)
    rounds, counted, refused = 0, [], []
    try:
        while time.monotonic() < end or rounds < MIN_ROUNDS:
            t = trait_table(r)                      # loads the module on demand
            assert module_loaded()
            p = rmmod()
            refused.append((p.returncode, p.stderr.strip()))
            counted.append(matched(t))
            r.run("nft delete table inet churn")
            for _ in range(50):                     # rules are freed after commit
                if rmmod().returncode == 0:
                    break
                time.sleep(0.1)
            assert not module_loaded(), f"{MODULE} stays loaded without rules"
            rounds += 1
        ip_rounds = rules.wait()
    finally:
        with open(stop, "w"):
            pass
    sent = [s.wait() for s in senders]

    print(f"\nchurn: {rounds} module unload/reload rounds, {ip_rounds} ip rule "
          f"rounds, {sent} packets sent, (a1, a2) counted by each round's rules: "
          f"{counted}")
    for code, err in refused:
        assert code != 0 and "in use" in err, (code, err)
    # traffic went on all along, and every incarnation of the module's
    # rules matched both senders' traits
    assert all(one > 0 and two > 0 for one, two in counted), counted

    # afterwards: matching and routing on traits still work
    t = trait_table(r)
    r.run("ip rule add trait 7 value 1 table 100")
    assert net.send(net.a1, 200)[1] >= 200            # trait 7 == 1: uplink B
    assert net.send(net.a2, 200)[0] >= 200            # trait 7 == 2: main
    assert (t.packets("one"), t.packets("two"), t.packets("any")) == (200, 200, 400)
    assert "in use" in rmmod().stderr
