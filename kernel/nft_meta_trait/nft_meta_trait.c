// SPDX-License-Identifier: GPL-2.0
/*
 * nf_tables "trait" expression: match and set packet traits
 * (include/net/traits.h) from nftables rules.
 *
 *   meta trait 7 == 1            load the value of key 7 into a register
 *                                (no match on a flag or an absent key)
 *   meta trait 7 exists          load whether key 7 is present
 *   meta trait 7 set 1           set key 7 from a register
 *   meta trait 7 set exists      make key 7 a flag (no register)
 *   meta trait 7 set missing     delete key 7 (no register)
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <net/ip.h>
#include <net/netfilter/nf_tables.h>
#include <net/netfilter/nf_tables_core.h>
#include <net/traits.h>

static const struct nla_policy nft_trait_policy[NFTA_TRAIT_MAX + 1] = {
	[NFTA_TRAIT_KEY]	= { .type = NLA_U32 },
	[NFTA_TRAIT_DREG]	= { .type = NLA_U32 },
	[NFTA_TRAIT_SREG]	= { .type = NLA_U32 },
	[NFTA_TRAIT_LEN]	= { .type = NLA_U32 },
	[NFTA_TRAIT_FLAGS]	= { .type = NLA_U32 },
};

#define NFT_TRAIT_F_OPS		(NFT_TRAIT_F_DELETE | NFT_TRAIT_F_FLAG)
#define NFT_TRAIT_F_ALL		(NFT_TRAIT_F_PRESENT | NFT_TRAIT_F_OPS)

static u32 nft_trait_flags(const struct nlattr * const tb[])
{
	return tb[NFTA_TRAIT_FLAGS] ? ntohl(nla_get_be32(tb[NFTA_TRAIT_FLAGS])) : 0;
}

static int nft_trait_parse(const struct nft_ctx *ctx, struct nft_trait *priv,
			   const struct nlattr * const tb[])
{
	u32 key, len, flags = nft_trait_flags(tb);

	if (!tb[NFTA_TRAIT_KEY]) {
		NL_SET_ERR_MSG(ctx->extack, "trait: key is required");
		return -EINVAL;
	}
	if (!tb[NFTA_TRAIT_LEN] && !(flags & NFT_TRAIT_F_OPS)) {
		NL_SET_ERR_MSG(ctx->extack, "trait: length is required");
		return -EINVAL;
	}
	key = ntohl(nla_get_be32(tb[NFTA_TRAIT_KEY]));
	if (key > TRAIT_KEY_MAX) {
		NL_SET_ERR_MSG_ATTR(ctx->extack, tb[NFTA_TRAIT_KEY],
				    "trait: key must be 0-63");
		return -ERANGE;
	}
	if (flags & ~NFT_TRAIT_F_ALL) {
		NL_SET_ERR_MSG_ATTR(ctx->extack, tb[NFTA_TRAIT_FLAGS],
				    "trait: unknown flags");
		return -EOPNOTSUPP;
	}
	if (flags & NFT_TRAIT_F_OPS) {
		/* delete, or set as a flag: one of them, and nothing else */
		if (hweight32(flags) != 1) {
			NL_SET_ERR_MSG_ATTR(ctx->extack, tb[NFTA_TRAIT_FLAGS],
					    "trait: delete, flag and present exclude each other");
			return -EINVAL;
		}
		if (tb[NFTA_TRAIT_LEN]) {
			NL_SET_ERR_MSG_ATTR(ctx->extack, tb[NFTA_TRAIT_LEN],
					    "trait: no length with delete or flag");
			return -EINVAL;
		}
		len = 0;
		goto out;
	}
	len = ntohl(nla_get_be32(tb[NFTA_TRAIT_LEN]));
	if (flags & NFT_TRAIT_F_PRESENT) {
		if (len != 1) {
			NL_SET_ERR_MSG_ATTR(ctx->extack, tb[NFTA_TRAIT_LEN],
					    "trait: length must be 1 with the present flag");
			return -EINVAL;
		}
	} else if (len != sizeof(u32) && len != sizeof(u64)) {
		NL_SET_ERR_MSG_ATTR(ctx->extack, tb[NFTA_TRAIT_LEN],
				    "trait: length must be 4 or 8");
		return -EINVAL;
	}
out:
	priv->key = key;
	priv->bit = BIT_ULL(key);
	priv->len = len;
	priv->flags = flags;
	return 0;
}

static int nft_trait_get_init(const struct nft_ctx *ctx,
			      const struct nft_expr *expr,
			      const struct nlattr * const tb[])
{
	struct nft_trait *priv = nft_expr_priv(expr);
	int err;

	err = nft_trait_parse(ctx, priv, tb);
	if (err)
		return err;
	if (priv->flags & NFT_TRAIT_F_OPS) {
		NL_SET_ERR_MSG_ATTR(ctx->extack, tb[NFTA_TRAIT_FLAGS],
				    "trait: delete and flag take no register");
		return -EINVAL;
	}
	err = nft_parse_register_store(ctx, tb[NFTA_TRAIT_DREG], &priv->dreg,
				       NULL, NFT_DATA_VALUE, priv->len);
	if (err) {
		NL_SET_ERR_MSG_ATTR(ctx->extack, tb[NFTA_TRAIT_DREG],
				    "trait: invalid destination register");
		return err;
	}
	net_traits_enable();
	return 0;
}

static int nft_trait_set_init(const struct nft_ctx *ctx,
			      const struct nft_expr *expr,
			      const struct nlattr * const tb[])
{
	struct nft_trait *priv = nft_expr_priv(expr);
	int err;

	err = nft_trait_parse(ctx, priv, tb);
	if (err)
		return err;
	if (priv->flags & NFT_TRAIT_F_PRESENT) {
		NL_SET_ERR_MSG_ATTR(ctx->extack, tb[NFTA_TRAIT_FLAGS],
				    "trait: the present flag only applies to loads");
		return -EINVAL;
	}
	if (priv->flags & NFT_TRAIT_F_OPS) {
		NL_SET_ERR_MSG_ATTR(ctx->extack, tb[NFTA_TRAIT_FLAGS],
				    "trait: delete and flag take no register");
		return -EINVAL;
	}
	err = nft_parse_register_load(ctx, tb[NFTA_TRAIT_SREG], &priv->sreg,
				      priv->len);
	if (err) {
		NL_SET_ERR_MSG_ATTR(ctx->extack, tb[NFTA_TRAIT_SREG],
				    "trait: invalid source register");
		return err;
	}
	net_traits_enable();
	return 0;
}

static int nft_trait_op_init(const struct nft_ctx *ctx,
			     const struct nft_expr *expr,
			     const struct nlattr * const tb[])
{
	struct nft_trait *priv = nft_expr_priv(expr);
	int err;

	err = nft_trait_parse(ctx, priv, tb);
	if (err)
		return err;
	if (!(priv->flags & NFT_TRAIT_F_OPS)) {
		NL_SET_ERR_MSG(ctx->extack,
			       "trait: exactly one of DREG and SREG is required");
		return -EINVAL;
	}
	net_traits_enable();
	return 0;
}

static void nft_trait_destroy(const struct nft_ctx *ctx,
			      const struct nft_expr *expr)
{
	net_traits_disable();
}

/* Values are loaded by nft_trait_get_eval(), in nf_tables (nft_trait_fast.c). */
static void nft_trait_present_eval(const struct nft_expr *expr,
				   struct nft_regs *regs,
				   const struct nft_pktinfo *pkt)
{
	const struct nft_trait *priv = nft_expr_priv(expr);
	const struct traits *t = skb_traits(pkt->skb, nft_net(pkt));

	nft_reg_store8(&regs->data[priv->dreg],
		       t && trait_size(t, priv->key) >= 0);
}

static void nft_trait_set_eval(const struct nft_expr *expr,
			       struct nft_regs *regs,
			       const struct nft_pktinfo *pkt)
{
	const struct nft_trait *priv = nft_expr_priv(expr);
	const u32 *src = &regs->data[priv->sreg];
	struct traits *t;
	u64 val64;
	u32 val32;
	int err = -ENOMEM;

	nft_regs_trait_reset(regs);
	t = skb_traits_add(pkt->skb, nft_net(pkt));
	if (t && priv->len == sizeof(u32)) {
		val32 = *src;
		err = trait_set(t, priv->key, &val32, sizeof(val32),
				TRAIT_F_REPLACE);
	} else if (t) {
		val64 = nft_reg_load64(src);
		err = trait_set(t, priv->key, &val64, sizeof(val64),
				TRAIT_F_REPLACE);
	}
	/* Fail closed: a packet must not go on without a trait that policy
	 * may depend on (no memory for the extension, no room in it).
	 */
	if (err) {
		NET_INC_STATS(nft_net(pkt), LINUX_MIB_TRAITSFAILED);
		regs->verdict.code = NF_DROP;
	}
}

/* "set missing" deletes the trait, "set exists" makes it a flag. */
static void nft_trait_op_eval(const struct nft_expr *expr,
			      struct nft_regs *regs,
			      const struct nft_pktinfo *pkt)
{
	const struct nft_trait *priv = nft_expr_priv(expr);
	const struct traits *cur;
	struct traits *t;
	int err;

	nft_regs_trait_reset(regs);
	if (priv->flags & NFT_TRAIT_F_DELETE) {
		cur = skb_traits(pkt->skb, nft_net(pkt));
		if (!cur || trait_size(cur, priv->key) < 0)
			return;
		t = skb_traits_add(pkt->skb, nft_net(pkt));
		err = t ? trait_del(t, priv->key) : -ENOMEM;
	} else {
		t = skb_traits_add(pkt->skb, nft_net(pkt));
		err = t ? trait_set(t, priv->key, NULL, 0, TRAIT_F_REPLACE) :
			  -ENOMEM;
	}
	/* Fail closed, as nft_trait_set_eval() does. */
	if (err) {
		NET_INC_STATS(nft_net(pkt), LINUX_MIB_TRAITSFAILED);
		regs->verdict.code = NF_DROP;
	}
}

static int nft_trait_dump(struct sk_buff *skb, const struct nft_trait *priv,
			  int reg_attr, u8 reg)
{
	if (nla_put_be32(skb, NFTA_TRAIT_KEY, htonl(priv->key)) ||
	    nla_put_be32(skb, NFTA_TRAIT_LEN, htonl(priv->len)) ||
	    nft_dump_register(skb, reg_attr, reg))
		return -1;
	if (priv->flags &&
	    nla_put_be32(skb, NFTA_TRAIT_FLAGS, htonl(priv->flags)))
		return -1;
	return 0;
}

static int nft_trait_get_dump(struct sk_buff *skb,
			      const struct nft_expr *expr, bool reset)
{
	const struct nft_trait *priv = nft_expr_priv(expr);

	return nft_trait_dump(skb, priv, NFTA_TRAIT_DREG, priv->dreg);
}

static int nft_trait_op_dump(struct sk_buff *skb,
			     const struct nft_expr *expr, bool reset)
{
	const struct nft_trait *priv = nft_expr_priv(expr);

	if (nla_put_be32(skb, NFTA_TRAIT_KEY, htonl(priv->key)) ||
	    nla_put_be32(skb, NFTA_TRAIT_FLAGS, htonl(priv->flags)))
		return -1;
	return 0;
}

static int nft_trait_set_dump(struct sk_buff *skb,
			      const struct nft_expr *expr, bool reset)
{
	const struct nft_trait *priv = nft_expr_priv(expr);

	return nft_trait_dump(skb, priv, NFTA_TRAIT_SREG, priv->sreg);
}

static struct nft_expr_type nft_trait_type;
static const struct nft_expr_ops nft_trait_get_ops = {
	.type		= &nft_trait_type,
	.size		= NFT_EXPR_SIZE(sizeof(struct nft_trait)),
	.eval		= nft_trait_get_eval,
	.init		= nft_trait_get_init,
	.destroy	= nft_trait_destroy,
	.dump		= nft_trait_get_dump,
};

static const struct nft_expr_ops nft_trait_present_ops = {
	.type		= &nft_trait_type,
	.size		= NFT_EXPR_SIZE(sizeof(struct nft_trait)),
	.eval		= nft_trait_present_eval,
	.init		= nft_trait_get_init,
	.destroy	= nft_trait_destroy,
	.dump		= nft_trait_get_dump,
};

static const struct nft_expr_ops nft_trait_set_ops = {
	.type		= &nft_trait_type,
	.size		= NFT_EXPR_SIZE(sizeof(struct nft_trait)),
	.eval		= nft_trait_set_eval,
	.init		= nft_trait_set_init,
	.destroy	= nft_trait_destroy,
	.dump		= nft_trait_set_dump,
};

static const struct nft_expr_ops nft_trait_op_ops = {
	.type		= &nft_trait_type,
	.size		= NFT_EXPR_SIZE(sizeof(struct nft_trait)),
	.eval		= nft_trait_op_eval,
	.init		= nft_trait_op_init,
	.destroy	= nft_trait_destroy,
	.dump		= nft_trait_op_dump,
};

static const struct nft_expr_ops *
nft_trait_select_ops(const struct nft_ctx *ctx,
		     const struct nlattr * const tb[])
{
	if (!tb[NFTA_TRAIT_DREG] && !tb[NFTA_TRAIT_SREG] &&
	    (nft_trait_flags(tb) & NFT_TRAIT_F_OPS))
		return &nft_trait_op_ops;
	if (!!tb[NFTA_TRAIT_DREG] == !!tb[NFTA_TRAIT_SREG]) {
		NL_SET_ERR_MSG(ctx->extack,
			       "trait: exactly one of DREG and SREG is required");
		return ERR_PTR(-EINVAL);
	}
	if (!tb[NFTA_TRAIT_DREG])
		return &nft_trait_set_ops;
	if (nft_trait_flags(tb) & NFT_TRAIT_F_PRESENT)
		return &nft_trait_present_ops;
	return &nft_trait_get_ops;
}

static struct nft_expr_type nft_trait_type __read_mostly = {
	.name		= "trait",
	.select_ops	= nft_trait_select_ops,
	.policy		= nft_trait_policy,
	.maxattr	= NFTA_TRAIT_MAX,
	.owner		= THIS_MODULE,
};

static int __init nft_trait_module_init(void)
{
	return nft_register_expr(&nft_trait_type);
}

static void __exit nft_trait_module_exit(void)
{
	nft_unregister_expr(&nft_trait_type);
}

module_init(nft_trait_module_init);
module_exit(nft_trait_module_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("nf_tables: match and set packet traits");
MODULE_ALIAS_NFT_EXPR("trait");
