"""Minimal netlink client for the tests (nf_tables and rtnetlink).

Debian's nft (1.0.6) manages tables, chains, named sets and named
counters; it does not know the `trait` expression. This module sends the
rules that need it as raw NEWRULE batches, the way a patched nft would,
and returns the kernel's error and extack message.
"""
import os
import socket
import struct

NETLINK_NETFILTER = 12
NETLINK_EXT_ACK = 11
NETLINK_CAP_ACK = 10
SOL_NETLINK = 270

NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_APPEND = \
    0x1, 0x4, 0x200, 0x400, 0x800
NLM_F_DUMP = 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLA_F_NESTED = 0x8000
NFNL_SUBSYS_NFTABLES = 10
NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END = 0x10, 0x11
NFT_MSG_NEWRULE, NFT_MSG_GETRULE, NFT_MSG_DELRULE = 6, 7, 8
NFTA_RULE_TABLE, NFTA_RULE_CHAIN, NFTA_RULE_HANDLE, NFTA_RULE_EXPRESSIONS = 1, 2, 3, 4
NFTA_EXPR_NAME, NFTA_EXPR_DATA = 1, 2

FAMILIES = {"ip": 2, "ip6": 10, "inet": 1, "bridge": 7, "netdev": 5, "arp": 3}

# enum nft_trait_attributes / nft_trait_flags (kernel/patches)
NFTA_TRAIT_KEY, NFTA_TRAIT_DREG, NFTA_TRAIT_SREG, NFTA_TRAIT_LEN, \
    NFTA_TRAIT_FLAGS = range(1, 6)
NFT_TRAIT_F_PRESENT, NFT_TRAIT_F_DELETE, NFT_TRAIT_F_FLAG = 1, 2, 4

NFT_REG_VERDICT, NFT_REG_1 = 0, 1
CMP_OPS = {"==": 0, "!=": 1, "<": 2, "<=": 3, ">": 4, ">=": 5}
NF_DROP, NF_ACCEPT = 0, 1
NFT_META_MARK = 3
NFT_META_L4PROTO = 16
NFT_CT_MARK = 3


def attr(atype, payload):
    if isinstance(payload, str):
        payload = payload.encode() + b"\0"
    hdr = struct.pack("=HH", 4 + len(payload), atype)
    pad = b"\0" * ((4 - len(payload) % 4) % 4)
    return hdr + payload + pad


def nest(atype, *attrs):
    return attr(atype | NLA_F_NESTED, b"".join(attrs))


def be32(atype, v):
    return attr(atype, struct.pack("!I", v))


def data_value(atype, raw):
    return nest(atype, attr(1, raw))          # NFTA_DATA_VALUE


def host(v, size=4):
    return struct.pack("=I" if size == 4 else "=Q", v)


def expr(name, *attrs):
    return nest(1, attr(1, name), nest(2, *attrs))   # LIST_ELEM{NAME, DATA}


# Expressions, as the nft front end would emit them.
def trait_load(key, length=4, dreg=NFT_REG_1, flags=0, **raw):
    a = [be32(NFTA_TRAIT_KEY, key), be32(NFTA_TRAIT_DREG, dreg),
         be32(NFTA_TRAIT_LEN, length)]
    if flags:
        a.append(be32(NFTA_TRAIT_FLAGS, flags))
    return expr("trait", *a)


def trait_present(key, dreg=NFT_REG_1):
    return trait_load(key, 1, dreg, NFT_TRAIT_F_PRESENT)


def trait_set(key, length=4, sreg=NFT_REG_1):
    return expr("trait", be32(NFTA_TRAIT_KEY, key), be32(NFTA_TRAIT_SREG, sreg),
                be32(NFTA_TRAIT_LEN, length))


def trait_flag(key):
    """`meta trait KEY set exists`: no register, no length."""
    return expr("trait", be32(NFTA_TRAIT_KEY, key),
                be32(NFTA_TRAIT_FLAGS, NFT_TRAIT_F_FLAG))


def trait_delete(key):
    """`meta trait KEY set missing`."""
    return expr("trait", be32(NFTA_TRAIT_KEY, key),
                be32(NFTA_TRAIT_FLAGS, NFT_TRAIT_F_DELETE))


def trait_raw(*attrs):
    """A trait expression with arbitrary attributes (error-path tests)."""
    return expr("trait", *attrs)


def cmp(op, raw, sreg=NFT_REG_1):
    return expr("cmp", be32(1, sreg), be32(2, CMP_OPS[op]), data_value(3, raw))


def byteorder_hton(size, sreg=NFT_REG_1, dreg=NFT_REG_1):
    return expr("byteorder", be32(1, sreg), be32(2, dreg), be32(3, 1),
                be32(4, size), be32(5, size))


def rng(lo, hi, size=4, neg=False, sreg=NFT_REG_1):
    fmt = "!I" if size == 4 else "!Q"
    return expr("range", be32(1, sreg), be32(2, 1 if neg else 0),
                data_value(3, struct.pack(fmt, lo)),
                data_value(4, struct.pack(fmt, hi)))


def bitwise_and(mask, size=4, sreg=NFT_REG_1, dreg=NFT_REG_1):
    return expr("bitwise", be32(1, sreg), be32(2, dreg), be32(3, size),
                data_value(4, host(mask, size)), data_value(5, host(0, size)))


def lookup(setname, sreg=NFT_REG_1, dreg=None, inv=False):
    a = [attr(1, setname), be32(2, sreg)]
    if dreg is not None:
        a.append(be32(3, dreg))
    if inv:
        a.append(be32(5, 1))
    return expr("lookup", *a)


def counter(name):
    return expr("objref", be32(1, 1), attr(2, name))  # NFT_OBJECT_COUNTER


def limit(rate, burst=5, over=False):
    """`limit rate [over] RATE/second` (packets; nft's default burst 5)."""
    return expr("limit", attr(1, struct.pack("!Q", rate)),    # RATE
                attr(2, struct.pack("!Q", 1)),                # UNIT: seconds
                be32(3, burst), be32(4, 0),                   # BURST, TYPE pkts
                be32(5, 1 if over else 0))                    # FLAGS: F_INV


def verdict(code):
    return expr("immediate", be32(1, NFT_REG_VERDICT),
                nest(2, nest(2, be32(1, code & 0xffffffff))))


def immediate(raw, dreg=NFT_REG_1):
    return expr("immediate", be32(1, dreg), data_value(2, raw))


def meta_load(key, dreg=NFT_REG_1):
    return expr("meta", be32(1, dreg), be32(2, key))


def meta_set(key, sreg=NFT_REG_1):
    return expr("meta", be32(2, key), be32(3, sreg))


def ct_set(key, sreg=NFT_REG_1):
    return expr("ct", be32(2, key), be32(4, sreg))


class NftError(Exception):
    def __init__(self, errno, msg):
        super().__init__(f"{os.strerror(errno)}: {msg}")
        self.errno = errno
        self.msg = msg


def _nlmsg(mtype, flags, seq, family, payload, res_id=0):
    body = struct.pack("=BBH", family, 0, socket.htons(res_id)) + payload
    return struct.pack("=IHHII", 16 + len(body), mtype, flags, seq, 0) + body


def talk(proto, msgs, ack_seq):
    """Send netlink messages; wait for the answer to ack_seq.

    With one sequence number, raises NftError with the kernel's extack
    message on an error. With a range, returns the answer to each, in
    order: None (acked) or an NftError.
    """
    many = isinstance(ack_seq, range)
    seqs = ack_seq if many else range(ack_seq, ack_seq + 1)
    got = {}
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
    try:
        s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        s.bind((0, 0))
        s.sendto(b"".join(msgs), (0, 0))
        while True:
            buf = s.recv(65536)
            off = 0
            while off < len(buf):
                ln, mtype, flags, seq, _ = struct.unpack_from("=IHHII", buf, off)
                if mtype == NLMSG_ERROR:
                    err = struct.unpack_from("=i", buf, off + 16)[0]
                    e = NftError(-err, _extack(buf[off:off + ln])) if err else None
                    if e and not (many and seq in seqs):
                        raise e
                    if seq in seqs:
                        got[seq] = e
                    if len(got) == len(seqs):
                        return [got[q] for q in seqs] if many else None
                off += (ln + 3) & ~3
    finally:
        s.close()


def add_rule(family, table, chain, *exprs):
    """Append a rule; raise NftError with the extack message on refusal."""
    add_rules(family, table, chain, [exprs])


def add_rules(family, table, chain, rules):
    """Append rules (lists of expressions) in one batch."""
    _batch(family, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
           [rule(table, chain, *exprs) for exprs in rules])


def rule(table, chain, *exprs):
    """The payload of a NEWRULE message."""
    return (attr(NFTA_RULE_TABLE, table) + attr(NFTA_RULE_CHAIN, chain) +
            nest(NFTA_RULE_EXPRESSIONS, *exprs))


def del_rules(family, table, chain, handles):
    _batch(family, NFT_MSG_DELRULE, 0,
           [attr(NFTA_RULE_TABLE, table) + attr(NFTA_RULE_CHAIN, chain) +
            attr(NFTA_RULE_HANDLE, struct.pack("!Q", h)) for h in handles])


def _batch(family, mtype, flags, payloads):
    err = next((e for e in batch(family, mtype, flags, payloads) if e), None)
    if err:
        raise err


def batch(family, mtype, flags, payloads):
    """One nf_tables batch of mtype messages (all acked); the kernel's
    answer to each: None or an NftError. One refusal aborts the batch."""
    msgs = [_nlmsg(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 1, 0, b"",
                   NFNL_SUBSYS_NFTABLES)]
    for i, payload in enumerate(payloads):
        msgs.append(_nlmsg((NFNL_SUBSYS_NFTABLES << 8) | mtype,
                           NLM_F_REQUEST | NLM_F_ACK | flags,
                           2 + i, FAMILIES[family], payload))
    msgs.append(_nlmsg(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 2 + len(payloads), 0,
                       b"", NFNL_SUBSYS_NFTABLES))
    return talk(NETLINK_NETFILTER, msgs, range(2, 2 + len(payloads)))


def get_rules(family, table, chain):
    """The rules of a chain as the kernel dumps them:
    [(handle, [(expression name, {attribute type: payload}), ...]), ...]
    """
    req = _nlmsg((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE,
                 NLM_F_REQUEST | NLM_F_DUMP, 1, FAMILIES[family],
                 attr(NFTA_RULE_TABLE, table) + attr(NFTA_RULE_CHAIN, chain))
    rules = []
    for body in dump(NETLINK_NETFILTER, req):
        a = dict(attrs(body[4:]))                  # after struct nfgenmsg
        exprs = []
        for _, elem in attrs(a.get(NFTA_RULE_EXPRESSIONS, b"")):
            e = dict(attrs(elem))
            exprs.append((e[NFTA_EXPR_NAME].rstrip(b"\0").decode(),
                          dict(attrs(e.get(NFTA_EXPR_DATA, b"")))))
        rules.append((struct.unpack("!Q", a[NFTA_RULE_HANDLE])[0], exprs))
    return rules


def attrs(buf, flags=False):
    """[(type, payload), ...] of the attributes in buf, walked as the
    kernel's lenient parser does: stops at the first header that does not
    fit; the NESTED and BYTEORDER bits of the type are dropped unless
    flags is true."""
    out, off = [], 0
    while off + 4 <= len(buf):
        ln, atype = struct.unpack_from("=HH", buf, off)
        if ln < 4 or off + ln > len(buf):
            break
        out.append((atype if flags else atype & 0x3fff, buf[off + 4:off + ln]))
        off += (ln + 3) & ~3
    return out


def rule_count(family, table, chain):
    """How many rules the kernel holds in a chain.

    Debian's nft leaves rules with a trait expression out of its listing,
    so only the kernel can say whether one was added.
    """
    return len(get_rules(family, table, chain))


def rtnl(mtype, flags, header, *attrs):
    """One rtnetlink request (e.g. RTM_NEWRULE) with a raw header."""
    body = header + b"".join(attrs)
    msg = struct.pack("=IHHII", 16 + len(body), mtype,
                      flags | NLM_F_REQUEST | NLM_F_ACK, 1, 0) + body
    talk(socket.NETLINK_ROUTE, [msg], 1)


def rtnl_dump(mtype, header):
    """The bodies (header and attributes) an rtnetlink dump returns."""
    msg = struct.pack("=IHHII", 16 + len(header), mtype,
                      NLM_F_REQUEST | NLM_F_DUMP, 1, 0) + header
    return dump(socket.NETLINK_ROUTE, msg)


def dump(proto, request):
    """Send a dump request; return the bodies of the messages it yields."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
    try:
        s.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        s.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        s.bind((0, 0))
        s.sendto(request, (0, 0))
        out = []
        while True:
            buf = s.recv(1 << 20)
            off = 0
            while off < len(buf):
                ln, mtype = struct.unpack_from("=IH", buf, off)
                if mtype == NLMSG_DONE:
                    return out
                if mtype == NLMSG_ERROR:
                    err = struct.unpack_from("=i", buf, off + 16)[0]
                    raise NftError(-err, _extack(buf[off:off + ln]))
                out.append(buf[off + 16:off + ln])
                off += (ln + 3) & ~3
    finally:
        s.close()


def _extack(msg):
    # nlmsghdr, error, original header (NETLINK_CAP_ACK), then TLVs
    off = 16 + 4 + 16
    while off + 4 <= len(msg):
        ln, atype = struct.unpack_from("=HH", msg, off)
        if ln < 4:
            break
        if atype == 1:                             # NLMSGERR_ATTR_MSG
            return msg[off + 4:off + ln].rstrip(b"\0").decode()
        off += (ln + 3) & ~3
    return ""
