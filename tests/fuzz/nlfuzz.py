#!/usr/bin/python3
"""nlfuzz: random and mutated netlink requests for packet traits.

    nlfuzz.py nft|fib [--seed N] [--messages N]

nft: NEWRULE batches whose rules hold `trait` expressions (NFTA_TRAIT_*)
     built valid, then mutated: values out of range, attributes dropped,
     duplicated, shortened, lengthened, flagged nested, unknown types,
     garbage after them; registers loaded before or without a store.
fib: RTM_NEWRULE (IPv4 and IPv6) with FRA_TRAIT_KEY/VALUE/MASK, alone or
     with other FRA_ attributes and header fields, mutated likewise.

Run it in a network namespace of its own: it makes nft tables and fib
rules there and removes every rule the kernel accepts. Oracles:
- a refusal carries an extack message (NLMSGERR_ATTR_MSG);
- a request the model (the kernel's documented rules, below) calls bad is
  refused, a good one accepted;
- an accepted rule dumps back with exactly the trait attributes that the
  request meant (the last of duplicates, registers in canonical form), and
  deleting it restores the rule set.
Prints the seed first and a summary line last; exits 1 when an oracle
failed, after printing the first request (hex) of each kind of failure.
"""
import argparse
import collections
import errno
import os
import random
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import nftnl as n  # noqa: E402

U32 = 0xffffffff
U64 = (1 << 64) - 1


class Stats:
    def __init__(self):
        self.sent = self.accepted = self.refused = 0
        self.reasons = collections.Counter()
        self.failures = collections.Counter()
        self.examples = {}

    def refusal(self, err):
        self.refused += 1
        name = errno.errorcode.get(err.errno, str(err.errno))
        self.reasons[f"{name}: {err.msg or '(no message)'}"] += 1

    def fail(self, kind, request, detail=""):
        self.failures[kind] += 1
        self.examples.setdefault(kind, (request.hex(), detail))

    def report(self, what, seed, seconds):
        rate = self.sent / seconds if seconds else 0
        print(f"nlfuzz {what}: seed {seed}: {self.sent} messages in {seconds:.1f} s "
              f"({rate:.0f}/s), {self.accepted} accepted, {self.refused} refused")
        for reason, count in self.reasons.most_common():
            print(f"  refused {count:6d}  {reason}")
        for kind, count in self.failures.most_common():
            request, detail = self.examples[kind]
            print(f"FAIL {count:6d}  {kind}\n  first: {detail}\n  request: {request}")
        return 1 if self.failures else 0


def mutate(rnd, attrs, types):
    """Mutate a list of (type, payload) in place: the ways a buggy or
    hostile client gets attributes wrong."""
    i = rnd.randrange(len(attrs)) if attrs else None
    m = rnd.randrange(9)
    if m == 0 and attrs:
        del attrs[i]                                           # missing
    elif m == 1 and attrs:
        t, p = attrs[i]                                        # duplicate
        attrs.append((t, bytes(rnd.randrange(256) for _ in p)))
    elif m == 2 and attrs:
        attrs[i] = (attrs[i][0], attrs[i][1][:rnd.randrange(len(attrs[i][1]) + 1)])
    elif m == 3 and attrs:
        attrs[i] = (attrs[i][0], attrs[i][1] + rnd.randbytes(rnd.choice((1, 4, 8))))
    elif m == 4 and attrs:
        attrs[i] = (attrs[i][0] | n.NLA_F_NESTED, attrs[i][1])
    elif m == 5 and attrs:                                     # nested garbage
        attrs[i] = (attrs[i][0] | n.NLA_F_NESTED,
                    n.attr(rnd.randrange(8), rnd.randbytes(rnd.randrange(9))))
    elif m == 6:
        attrs.append((rnd.choice((0, max(types) + 1, 27, 100, 0x3fff)),
                      rnd.randbytes(rnd.choice((0, 1, 4, 8)))))
    elif m == 7 and attrs:
        attrs[i] = (rnd.choice(types), attrs[i][1])            # wrong type
    else:
        rnd.shuffle(attrs)


def encode(attrs, junk=b""):
    return b"".join(n.attr(t, p) for t, p in attrs) + junk


def last(parsed):
    return dict(parsed)


# ---------------------------------------------------------------- nft

NFT_TABLES = {"ip": "", "ip6": "", "inet": "", "bridge": "",
              "netdev": " device lo"}
REG_BYTES = 80                 # sizeof(struct nft_regs.data)
NFT_BATCH = 16                 # rules a batch: an aborted batch costs an RCU grace period


def reg32(reg):
    """nft_parse_register(): the 32-bit register index, None if out of range."""
    if 0 <= reg <= 4:
        return reg * 4
    if 8 <= reg <= 23:
        return reg - 4
    return None


def reg_dump(r32):
    """nft_dump_register(): how the kernel names register index r32."""
    return r32 // 4 if r32 % 4 == 0 else r32 - 4 + 8


def be32(payload):
    return struct.unpack("!I", payload[:4])[0]


def nft_trait_model(data, inited):
    """What nf_tables must do with one trait expression's NFTA_EXPR_DATA:
    (None, expected dump attributes) or (reason, None). @inited: the
    register indexes stored to by earlier expressions of the rule."""
    if 0 < len(data) < 4:
        return "policy", None
    parsed = n.attrs(data)
    if any(1 <= t <= 5 and len(p) < 4 for t, p in parsed):
        return "policy", None
    tb = {t: p for t, p in parsed if 1 <= t <= 5}
    flags = be32(tb[n.NFTA_TRAIT_FLAGS]) if n.NFTA_TRAIT_FLAGS in tb else 0
    ops = flags & (n.NFT_TRAIT_F_DELETE | n.NFT_TRAIT_F_FLAG)
    known = n.NFT_TRAIT_F_PRESENT | n.NFT_TRAIT_F_DELETE | n.NFT_TRAIT_F_FLAG
    load, store = n.NFTA_TRAIT_DREG in tb, n.NFTA_TRAIT_SREG in tb
    if not load and not store and ops:           # delete, or set a flag
        if n.NFTA_TRAIT_KEY not in tb:
            return "key required", None
        key = be32(tb[n.NFTA_TRAIT_KEY])
        if key > 63:
            return "key", None
        if flags & ~known:
            return "flags", None
        if bin(flags).count("1") != 1:
            return "exclusive flags", None
        if n.NFTA_TRAIT_LEN in tb:
            return "len with delete/flag", None
        return None, {n.NFTA_TRAIT_KEY: struct.pack("!I", key),
                      n.NFTA_TRAIT_FLAGS: struct.pack("!I", flags)}
    if load == store:
        return "dreg/sreg", None
    if n.NFTA_TRAIT_KEY not in tb or (n.NFTA_TRAIT_LEN not in tb and not ops):
        return "key/len required", None
    key = be32(tb[n.NFTA_TRAIT_KEY])
    if key > 63:
        return "key", None
    if flags & ~known:
        return "flags", None
    if ops:
        return "delete/flag with a register", None
    length = be32(tb[n.NFTA_TRAIT_LEN])
    if length not in ((1,) if flags else (4, 8)):
        return "len", None
    reg_attr = n.NFTA_TRAIT_DREG if load else n.NFTA_TRAIT_SREG
    if not load and flags:
        return "present set", None
    r = reg32(be32(tb[reg_attr]))
    if r is None or r < 4 or r * 4 + length > REG_BYTES:
        return "register", None
    regs = set(range(r, r + (length + 3) // 4))
    if not load and not regs <= inited:
        return "uninitialized register", None
    if load:
        inited |= regs
    want = {n.NFTA_TRAIT_KEY: struct.pack("!I", key),
            n.NFTA_TRAIT_LEN: struct.pack("!I", length),
            reg_attr: struct.pack("!I", reg_dump(r))}
    if flags:
        want[n.NFTA_TRAIT_FLAGS] = struct.pack("!I", flags)
    return None, want


def gen_trait(rnd):
    """NFTA_EXPR_DATA of a trait expression: valid, then maybe mutated."""
    def pick(good, bad):
        return rnd.choice(good) if rnd.random() < 0.85 else rnd.choice(bad)

    key = pick(range(64), (64, 255, 0x100, 0x80000000, U32, rnd.getrandbits(32)))
    kind = rnd.randrange(4)                     # load, present, set, delete/flag
    if kind == 3:
        flags = pick((n.NFT_TRAIT_F_DELETE, n.NFT_TRAIT_F_FLAG), (3, 6, 7, 8))
        attrs = [(n.NFTA_TRAIT_KEY, struct.pack("!I", key)),
                 (n.NFTA_TRAIT_FLAGS, struct.pack("!I", flags))]
        if rnd.random() < 0.15:
            attrs.append((rnd.choice((n.NFTA_TRAIT_LEN, n.NFTA_TRAIT_DREG,
                                      n.NFTA_TRAIT_SREG)), struct.pack("!I", 4)))
        rnd.shuffle(attrs)
        while rnd.random() < 0.3:
            mutate(rnd, attrs, range(1, 6))
        return encode(attrs, b"")
    length = {0: pick((4, 8), (0, 1, 2, 5, 16, U32)), 1: pick((1,), (0, 4, 8)),
              2: pick((4, 8), (0, 1, 16))}[kind]
    reg = pick((1, 2, 3, 4, 8, 9, 15, 16, 22),
               (0, 5, 7, 23, 24, 0x100, rnd.getrandbits(32)))
    attrs = [(n.NFTA_TRAIT_KEY, struct.pack("!I", key)),
             (n.NFTA_TRAIT_SREG if kind == 2 else n.NFTA_TRAIT_DREG,
              struct.pack("!I", reg)),
             (n.NFTA_TRAIT_LEN, struct.pack("!I", length))]
    flags = pick((1,) if kind == 1 else (0,), (1, 2, 3, 0x80000000))
    if flags or rnd.random() < 0.2:
        attrs.append((n.NFTA_TRAIT_FLAGS, struct.pack("!I", flags)))
    rnd.shuffle(attrs)
    while rnd.random() < 0.3:
        mutate(rnd, attrs, range(1, 6))
    junk = rnd.randbytes(rnd.randrange(1, 12)) if rnd.random() < 0.08 else b""
    return encode(attrs, junk)


def gen_rule(rnd):
    """[(kind, detail, expression bytes)]: trait expressions, sometimes
    after an immediate that fills the register a set reads."""
    out = []
    for _ in range(rnd.choice((1, 1, 1, 2, 3))):
        if rnd.random() < 0.4:
            reg = rnd.choice((1, 2, 3, 4, 8, 9, 15, 16, 22))
            size = 8 if rnd.random() < 0.5 and reg not in (4, 23) else 4
            out.append(("immediate", (reg32(reg), size),
                        n.immediate(rnd.randbytes(size), reg)))
        if rnd.random() < 0.02:                  # no NFTA_EXPR_DATA at all
            out.append(("trait", b"", n.nest(1, n.attr(1, "trait"))))
        else:
            data = gen_trait(rnd)
            out.append(("trait", data, n.expr("trait", data)))
    return out


def nft_expect(rule):
    """(refusal reason or None, expected dump of each trait expression)."""
    inited, want = set(), []
    for kind, detail, _ in rule:
        if kind == "immediate":
            r, size = detail
            inited |= set(range(r, r + size // 4))
            continue
        reason, dump = nft_trait_model(detail, inited)
        if reason:
            return reason, None
        want.append(dump)
    return None, want


def nft_run(rnd, count, stats):
    ruleset = "".join(
        f"table {f} f {{\n chain c {{ type filter hook "
        f"{'ingress' if f == 'netdev' else 'input'}{dev} priority 0; }}\n}}\n"
        for f, dev in NFT_TABLES.items())
    subprocess.run(["nft", "-f", "-"], input=ruleset, text=True, check=True)
    for start in range(0, count, NFT_BATCH):
        family = rnd.choice(list(NFT_TABLES))
        rules = [gen_rule(rnd) for _ in range(min(NFT_BATCH, count - start))]
        payloads = [n.rule("f", "c", *(raw for _, _, raw in r)) for r in rules]
        answers = n.batch(family, n.NFT_MSG_NEWRULE,
                          n.NLM_F_CREATE | n.NLM_F_APPEND, payloads)
        stats.sent += len(rules)
        wanted = []
        for rule, payload, err in zip(rules, payloads, answers):
            reason, want = nft_expect(rule)
            if err:
                stats.refusal(err)
                if not err.msg:
                    stats.fail("refused without an extack message", payload,
                               f"{os.strerror(err.errno)} (model: {reason})")
                if reason is None:
                    stats.fail("valid rule refused", payload, f"{err}")
                continue
            stats.accepted += 1
            if reason is not None:
                stats.fail("invalid rule accepted", payload, f"model: {reason}")
            wanted.append((payload, want))
        if any(answers) and wanted:
            # a refusal aborted the batch: commit the accepted rules alone
            answers = n.batch(family, n.NFT_MSG_NEWRULE,
                              n.NLM_F_CREATE | n.NLM_F_APPEND, [p for p, _ in wanted])
            for (payload, _), err in zip(wanted, answers):
                if err:
                    stats.fail("accepted rule refused in a batch of its own",
                               payload, f"{err}")
        dumped = n.get_rules(family, "f", "c")
        if len(dumped) != len(wanted):
            stats.fail("accepted rules not dumped once each", b"",
                       f"{len(wanted)} accepted, {len(dumped)} dumped")
        for (payload, want), (_, exprs) in zip(wanted, dumped):
            got = [a for name, a in exprs if name == "trait"]
            if want is not None and got != want:
                stats.fail("dump differs from the request", payload,
                           f"sent {want}, dumped {got}")
        if dumped:
            n.del_rules(family, "f", "c", [h for h, _ in dumped])


# ---------------------------------------------------------------- fib

RTM_NEWRULE, RTM_DELRULE, RTM_GETRULE = 32, 33, 34
FRA_SRC, FRA_DST, FRA_IIFNAME, FRA_GOTO, FRA_PRIORITY = 2, 1, 3, 4, 6
FRA_FWMARK, FRA_TUN_ID, FRA_SUPPRESS_PREFIXLEN, FRA_TABLE, FRA_FWMASK = 10, 12, 14, 15, 16
FRA_L3MDEV, FRA_UID_RANGE, FRA_PROTOCOL, FRA_IP_PROTO = 19, 20, 21, 22
FRA_SPORT_RANGE, FRA_DPORT_RANGE = 23, 24
FRA_TRAIT_KEY, FRA_TRAIT_VALUE, FRA_TRAIT_MASK = 32, 33, 34
FRA_MAX = 34
FR_ACT_TO_TBL, FR_ACT_GOTO = 1, 2
TRAIT_ATTRS = (FRA_TRAIT_KEY, FRA_TRAIT_VALUE, FRA_TRAIT_MASK)


def rule_hdr(family, action=FR_ACT_TO_TBL, table=100, src_len=0, dst_len=0):
    return struct.pack("=BBBBBBBBI", family, dst_len, src_len, 0, table, 0, 0,
                       action, 0)


def fib_other(rnd, family, pref):
    """Other FRA_ attributes and header fields: (attrs, header kwargs,
    outcome) with outcome True (harmless), False (the kernel must refuse)
    or None (not modelled)."""
    alen = 4 if family == 2 else 16
    m = rnd.randrange(16)
    if m < 6:
        return [], {}, True
    if m == 6:
        return [(FRA_PRIORITY, struct.pack("=I", pref)),
                (FRA_TABLE, struct.pack("=I", rnd.choice((100, 200, 1000))))], {}, True
    if m == 7:
        return [(FRA_FWMARK, struct.pack("=I", rnd.getrandbits(32))),
                (FRA_FWMASK, struct.pack("=I", rnd.getrandbits(32)))], {}, True
    if m == 8:
        return [(FRA_IIFNAME, rnd.choice((b"lo\0", b"nosuch0\0")))], {}, True
    if m == 9:
        plen = rnd.randrange(alen * 8 + 1)
        good = rnd.random() < 0.7
        return ([(FRA_SRC, rnd.randbytes(alen if good else alen + 4))],
                {"src_len": plen if good else plen + 1}, good)
    if m == 10:
        return [(FRA_IP_PROTO, b"\x11"), (FRA_PROTOCOL, b"\x04"),
                (FRA_SUPPRESS_PREFIXLEN, struct.pack("=I", 0)),
                (FRA_TUN_ID, struct.pack("!Q", rnd.getrandbits(64)))], {}, True
    if m == 11:
        lo, hi = rnd.randrange(65536), rnd.randrange(65536)
        return [(rnd.choice((FRA_SPORT_RANGE, FRA_DPORT_RANGE)),
                 struct.pack("=HH", lo, hi))], {}, lo <= hi
    if m == 12:                                   # goto, backwards or forwards
        target = pref + rnd.choice((-1, 0, 1, 100))
        action = rnd.choice((FR_ACT_GOTO, FR_ACT_GOTO, FR_ACT_TO_TBL))
        return ([(FRA_PRIORITY, struct.pack("=I", pref)),
                 (FRA_GOTO, struct.pack("=I", target))], {"action": action},
                action == FR_ACT_GOTO and target > pref)
    if m == 13:
        return [], {"action": FR_ACT_GOTO}, False     # goto without a target
    if m == 14:
        lo, hi = rnd.randrange(2000), rnd.randrange(2000)
        return [(FRA_UID_RANGE, struct.pack("=II", lo, hi))], {}, lo <= hi
    return [], {"action": rnd.randrange(9), "table": rnd.randrange(256)}, None


def fib_model(attrs):
    """(refusal reason or None, expected FRA_TRAIT_* of the dump) for the
    attributes of a request, as fib_nl2rule() must read them."""
    tb = {}
    for t, p in n.attrs(attrs, flags=True):
        if 27 <= t & 0x3fff <= 31:
            return "unsupported attribute", None
        if t & 0x3fff in TRAIT_ATTRS and t & n.NLA_F_NESTED:
            return "nested flag", None
        t &= 0x3fff
        if t in TRAIT_ATTRS:
            if len(p) != (1 if t == FRA_TRAIT_KEY else 8):
                return "length", None
            # the policy checks every copy of the key, not just the last
            if t == FRA_TRAIT_KEY and p[0] > 63:
                return "key", None
            tb[t] = p
    if not tb:
        return None, {}
    if FRA_TRAIT_KEY not in tb:
        return "value without key", None
    if tb[FRA_TRAIT_KEY][0] > 63:
        return "key", None
    if FRA_TRAIT_MASK in tb and FRA_TRAIT_VALUE not in tb:
        return "mask without value", None
    if FRA_TRAIT_VALUE not in tb:
        return None, {FRA_TRAIT_KEY: tb[FRA_TRAIT_KEY]}
    value = struct.unpack("=Q", tb[FRA_TRAIT_VALUE])[0]
    mask = struct.unpack("=Q", tb.get(FRA_TRAIT_MASK, struct.pack("=Q", U64)))[0]
    if value & ~mask:
        return "value outside mask", None
    return None, {FRA_TRAIT_KEY: tb[FRA_TRAIT_KEY],
                  FRA_TRAIT_VALUE: struct.pack("=Q", value),
                  FRA_TRAIT_MASK: struct.pack("=Q", mask)}


def gen_fib_traits(rnd):
    key = rnd.randrange(64) if rnd.random() < 0.9 else rnd.randrange(64, 256)
    attrs = [(FRA_TRAIT_KEY, bytes([key]))]
    if rnd.random() < 0.6:
        mask = rnd.choice((U64, U32, 0xf0, rnd.getrandbits(64)))
        value = rnd.getrandbits(64) & mask if rnd.random() < 0.9 else rnd.getrandbits(64)
        attrs.append((FRA_TRAIT_VALUE, struct.pack("=Q", value)))
        if mask != U64 or rnd.random() < 0.3:
            attrs.append((FRA_TRAIT_MASK, struct.pack("=Q", mask)))
    while rnd.random() < 0.3:
        mutate(rnd, attrs, TRAIT_ATTRS)
    return attrs


def fib_rules(family):
    return sorted(n.rtnl_dump(RTM_GETRULE, rule_hdr(family, 0, 0)))


def fib_run(rnd, count, stats):
    base = {f: fib_rules(f) for f in (2, 10)}
    for i in range(count):
        family = rnd.choice((2, 10))
        other, hdr, outcome = fib_other(rnd, family, 1000 + i % 20000)
        attrs = encode(gen_fib_traits(rnd) + other)
        request = rule_hdr(family, **hdr) + attrs
        reason, want = fib_model(attrs)
        stats.sent += 1
        try:
            n.rtnl(RTM_NEWRULE, n.NLM_F_CREATE, request[:12], request[12:])
        except n.NftError as e:
            stats.refusal(e)
            if not e.msg:
                stats.fail("refused without an extack message", request,
                           f"{os.strerror(e.errno)} (model: {reason})")
            if reason is None and outcome:
                stats.fail("valid rule refused", request, f"{e}")
            continue
        stats.accepted += 1
        if reason is not None or outcome is False:
            stats.fail("invalid rule accepted", request,
                       f"model: {reason or 'other attributes'}")
        now = fib_rules(family)
        added = list((collections.Counter(now) - collections.Counter(base[family])).elements())
        if len(added) != 1 or len(now) != len(base[family]) + 1:
            stats.fail("accepted rule not dumped once", request, f"{len(added)} new rules")
            continue
        got = {t: p for t, p in n.attrs(added[0][12:]) if t in TRAIT_ATTRS}
        if reason is None and got != want:
            stats.fail("dump differs from the request", request,
                       f"sent {want}, dumped {got}")
        try:
            n.rtnl(RTM_DELRULE, 0, added[0][:12], added[0][12:])
        except n.NftError as e:
            stats.fail("dumped rule cannot be deleted", added[0], f"{e}")
        if fib_rules(family) != base[family]:
            stats.fail("rule set not restored after delete", request)
            base[family] = fib_rules(family)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("nft", "fib"))
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("FUZZ_SEED") or
                                random.SystemRandom().getrandbits(32)))
    ap.add_argument("--messages", type=int,
                    default=int(os.environ.get("FUZZ_MESSAGES", "10000")))
    args = ap.parse_args()
    print(f"nlfuzz {args.what}: seed {args.seed} (FUZZ_SEED={args.seed} repeats this run)",
          flush=True)
    rnd = random.Random(args.seed)
    stats = Stats()
    start = time.monotonic()
    (nft_run if args.what == "nft" else fib_run)(rnd, args.messages, stats)
    return stats.report(args.what, args.seed, time.monotonic() - start)


if __name__ == "__main__":
    sys.exit(main())
