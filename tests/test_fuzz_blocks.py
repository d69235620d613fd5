# Fuzzing the XDP hand-over: tests/bpf/xdp_block_fuzz writes random and
# corrupted traits blocks (and kfunc calls) from a map in front of UDP
# packets through veth; the TC reader (tests/bpf/tc_traits) shows what the
# skb got. Invalid blocks are never attached and each counts once in
# TraitsInvalid; valid blocks are attached byte for byte. FUZZ_SEED
# repeats a run, FUZZ_BLOCKS sets its length.
import errno
import os
import random
import struct
import time

import pytest

from bpftool import Pinned
from conftest import BUILD, netstat

BLOCKS = int(os.environ.get("FUZZ_BLOCKS", "6000"))
MAGIC, VERSION = 0x74726169, 1
MAX_META, MAX_OPS, CASES, PORT = 192, 8, 64, 7779
KFUNC_META = 96               # leaves the kfuncs headroom to grow the block
U64 = (1 << 64) - 1
CASE = struct.Struct("=II" + "QIIQ" * MAX_OPS + f"{MAX_META}s")


def capacity():
    with open(os.path.join(BUILD, "kobj", ".config")) as f:
        for line in f:
            if line.startswith("CONFIG_NET_SKB_TRAITS_CAPACITY="):
                return int(line.split("=")[1])
    return 64


CAPACITY = capacity()
SIZES = {0: None, 1: 0, 2: 4, 3: 8}           # size class -> bytes


def encode(traits):
    """{key: (size, value)} as the block traits_block_store() writes."""
    high = low = 0
    values = b""
    for key in sorted(traits):
        size, value = traits[key]
        high |= (size >= 4) << key
        low |= (size != 4) << key
        values += value.to_bytes(size, "little")
    body = struct.pack("=QQ", high, low) + values
    return body + struct.pack("=IHH", MAGIC, VERSION, len(body) + 8)


def block_verdict(meta):
    """What skb_traits_from_meta() must make of metadata meta (see
    traits_block_load() and traits_valid()): None when it holds no block
    (shorter than a trailer, or a foreign magic), "invalid" when trailer or
    bitmaps do not add up, else ({key: (size, value)}, block length)."""
    if len(meta) < 8:
        return None
    magic, version, length = struct.unpack_from("=IHH", meta, len(meta) - 8)
    if magic != MAGIC:
        return None
    if version != VERSION or not 24 <= length <= len(meta) or length % 4 or \
            length - 24 > CAPACITY:
        return "invalid"
    high, low = struct.unpack_from("=QQ", meta, len(meta) - length)
    values = meta[len(meta) - length + 16:len(meta) - 8]
    traits, off = {}, 0
    for key in range(64):
        size = SIZES[(high >> key & 1) << 1 | (low >> key & 1)]
        if size is not None:
            traits[key] = (size, int.from_bytes(values[off:off + size], "little"))
            off += size
    return (traits, length) if off == len(values) else "invalid"


def random_traits(rnd):
    if rnd.random() < 0.05:                           # every key, as flags
        return {k: (0, 0) for k in range(64)}
    traits = {}
    for key in rnd.sample(range(64), rnd.choice((0, 1, 2, 3, 5, 8, 12, 20))):
        size = rnd.choice((0, 4, 8))
        traits[key] = (size, rnd.getrandbits(8 * size))
    while rnd.random() < 0.9 and sum(s for s, _ in traits.values()) > CAPACITY:
        del traits[rnd.choice(list(traits))]
    return traits


def corrupt(rnd, meta):
    """One corruption of prefix + block; lengths stay multiples of 4."""
    b = bytearray(meta)
    t = len(b) - 8                                   # the trailer
    m = rnd.randrange(9) if len(b) >= 8 else 8
    if m == 0:
        for _ in range(rnd.randrange(1, 4)):
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
    elif m == 1 and len(b) > 8:                       # lose the front
        del b[:4 * rnd.randrange(1, len(b) // 4)]
    elif m == 2:                                      # lose the end
        del b[len(b) - 4 * rnd.randrange(1, len(b) // 4 + 1):]
    elif m == 3:
        ln = struct.unpack_from("=H", b, t + 6)[0]
        b[t + 6:t + 8] = struct.pack("=H", rnd.choice(
            (0, 4, 20, 23, 24, ln - 4, ln - 1, ln + 1, ln + 4, len(b) + 4,
             0xffff, rnd.getrandbits(16))) & 0xffff)
    elif m == 4:                                      # bitmaps
        ln = struct.unpack_from("=H", b, t + 6)[0]
        at = len(b) - ln + rnd.choice((0, 8))
        if 0 <= at <= len(b) - 8:
            word = rnd.choice((U64, 1 << 63, rnd.getrandbits(64),
                               struct.unpack_from("=Q", b, at)[0] ^ 1 << rnd.randrange(64)))
            b[at:at + 8] = struct.pack("=Q", word)
    elif m == 5:
        b[t:t + 4] = struct.pack("=I", rnd.getrandbits(32))
    elif m == 6:
        b[t + 4:t + 6] = struct.pack("=H", rnd.choice((0, 2, 0xffff)))
    elif m == 7:                                      # values the bitmaps do not name
        extra = rnd.randbytes(rnd.choice((4, 8)))
        ln = struct.unpack_from("=H", b, t + 6)[0]
        b[t:t] = extra
        b[-2:] = struct.pack("=H", (ln + len(extra)) & 0xffff)
    else:
        b = bytearray(rnd.randbytes(4 * rnd.randrange(1, 12)))
    return bytes(b)


def random_meta(rnd, limit):
    prefix = rnd.randbytes(4 * rnd.randrange(9)) if rnd.random() < 0.3 else b""
    meta = prefix + encode(random_traits(rnd))
    while rnd.random() < 0.6:
        meta = corrupt(rnd, meta)
    return meta[len(meta) - min(len(meta), limit):]


def random_ops(rnd):
    ops = []
    for _ in range(rnd.randrange(1, MAX_OPS + 1)):
        key = rnd.randrange(64) if rnd.random() < 0.93 else rnd.choice(
            (64, 255, 1 << 32 | rnd.randrange(64), 1 << 63, rnd.getrandbits(64)))
        size = rnd.choice((0, 4, 8))
        flags = rnd.choice((0, 0, 1, 1, 2, 0x80000000))
        ops.append((key, size, flags, rnd.getrandbits(64) & ((1 << 8 * size) - 1)))
    return ops


def kfunc_model(meta, ops):
    """(return codes, metadata after the calls) of bpf_xdp_trait_set()."""
    verdict = block_verdict(meta)
    if verdict == "invalid":
        # the key is checked before the block is read
        return [-errno.EINVAL if op[0] > 63 else -errno.EBADMSG for op in ops], meta
    store, length = verdict if verdict else ({}, 0)
    own, rets, out = meta[:len(meta) - length], [], meta
    for key, size, flags, value in ops:
        old = store.get(key)
        if key > 63 or flags & ~1:
            rets.append(-errno.EINVAL)
        elif old and old[0] != size and not flags & 1:
            rets.append(-errno.EBUSY)
        elif sum(s for k, (s, _) in store.items() if k != key) + size > CAPACITY:
            rets.append(-errno.ENOSPC)
        else:
            store = {**store, key: (size, value)}
            out = own + encode(store)
            rets.append(0)
    return rets, out


class Fuzzer:
    def __init__(self, pair, tc_reader):
        self.a, self.b = pair
        self.prog = Pinned("xdp_block_fuzz.bpf.o", "xdp")
        self.b.run(f"ip link set dev vb xdpdrv pinned {self.prog.prog}")
        reader = tc_reader(self.b, "vb")
        self.cases = self.prog.map("cases", CASE.size)
        self.rets = self.prog.map("rets", 4 * MAX_OPS)
        self.last = reader.map("last", 16)
        self.info = reader.map("info", 8)
        self.sock = self.a.socket(2, 2)              # AF_INET, SOCK_DGRAM
        self.failures, self.examples = {}, {}
        self.counts = {"valid": 0, "invalid": 0, "no block": 0}

    def close(self):
        self.b.run("ip link set dev vb xdpdrv off", check=False)
        self.prog.remove()
        self.sock.close()

    def info_word(self, i):
        return struct.unpack("=Q", self.info.lookup(struct.pack("=I", i)))[0]

    def send(self, i, meta, ops=()):
        """Run one case; return (kfunc results, traits TC saw, its meta length)."""
        flat = [x for op in ops for x in op] + [0] * 4 * (MAX_OPS - len(ops))
        idx = struct.pack("=I", i % CASES)
        self.cases.update(idx, CASE.pack(len(meta), len(ops), *flat, meta))
        seen = self.info_word(0)
        self.sock.sendto(idx, ("10.0.0.2", PORT))
        deadline = time.monotonic() + 5
        while self.info_word(0) == seen:
            assert time.monotonic() < deadline, "TC never saw the packet"
            time.sleep(0.001)
        traits = {}
        for key in range(64):
            size, _, value = struct.unpack("=iIQ", self.last.lookup(struct.pack("=I", key)))
            if size >= 0:
                traits[key] = (size, value)
        rets = list(struct.unpack(f"={MAX_OPS}i", self.rets.lookup(idx)))[:len(ops)]
        return rets, traits, self.info_word(2)

    def check(self, kind, ok, meta, ops, detail):
        if not ok:
            self.failures[kind] = self.failures.get(kind, 0) + 1
            self.examples.setdefault(kind, f"meta {meta.hex()} ops {ops} {detail}")

    def run(self, name, count, ops_too):
        seed = int(os.environ.get("FUZZ_SEED") or random.SystemRandom().getrandbits(32))
        rnd = random.Random(seed)
        print(f"{name}: seed {seed} (FUZZ_SEED={seed} repeats this run)")
        invalid_before, invalid_sent = netstat(self.b, "TraitsInvalid"), 0
        start = time.monotonic()
        for i in range(count):
            meta = random_meta(rnd, KFUNC_META if ops_too else MAX_META)
            ops = random_ops(rnd) if ops_too else []
            want_rets, final = kfunc_model(meta, ops)
            verdict = block_verdict(final)
            rets, traits, meta_left = self.send(i, meta, ops)
            self.check("kfunc results differ from the model", rets == want_rets,
                       meta, ops, f"got {rets}, want {want_rets}")
            if verdict is None or verdict == "invalid":
                self.counts["no block" if verdict is None else "invalid"] += 1
                invalid_sent += verdict == "invalid"
                self.check(f"{verdict or 'no'} block attached traits", traits == {},
                           final, ops, f"got {traits}")
                self.check(f"{verdict or 'no'} block taken out of the metadata",
                           meta_left == len(final), final, ops, f"{meta_left} left")
            else:
                self.counts["valid"] += 1
                want, length = verdict
                self.check("valid block not attached as written", traits == want,
                           final, ops, f"got {traits}, want {want}")
                self.check("valid block not taken out of the metadata",
                           meta_left == len(final) - length, final, ops,
                           f"{meta_left} left")
        seconds = time.monotonic() - start
        invalid = netstat(self.b, "TraitsInvalid") - invalid_before
        self.check("TraitsInvalid did not rise by the invalid blocks sent",
                   invalid == invalid_sent, b"", [], f"{invalid} != {invalid_sent}")
        print(f"{name}: {count} blocks in {seconds:.1f} s ({count / seconds:.0f}/s): "
              + ", ".join(f"{v} {k}" for k, v in self.counts.items()))
        for kind, n in self.failures.items():
            print(f"FAIL {n:5d}  {kind}\n  first: {self.examples[kind]}")
        return self.counts


@pytest.fixture
def fuzzer(pair, tc_reader):
    f = Fuzzer(pair, tc_reader)
    yield f
    f.close()


def test_fuzzed_blocks_are_attached_exactly_when_valid(fuzzer):
    counts = fuzzer.run("blocks", BLOCKS, ops_too=False)
    assert not fuzzer.failures, fuzzer.examples
    # the mix reached every outcome
    assert all(counts.values()), counts


def test_fuzzed_kfunc_calls_on_fuzzed_metadata_follow_the_model(fuzzer):
    counts = fuzzer.run("kfuncs", BLOCKS // 2, ops_too=True)
    assert not fuzzer.failures, fuzzer.examples
    assert counts["valid"] and counts["invalid"], counts
