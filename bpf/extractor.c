//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * tacap's feature extractor: one record per TCP/UDP/ICMP/ICMPv6 packet, under
 * per-session quotas, handed to user space through a BPF ring buffer; and
 * exact statistics of every such packet, recorded or not, per biflow.
 *
 * The contract for every field is ../docs/dataset.md ("packets/"); the
 * sampling algorithm is its "Sampling" section, kept from the research
 * prototype.
 * The program only reads: every entry point returns "continue/pass" and
 * never touches packet bytes, so traffic is never dropped, delayed or changed.
 */
#include "headers/uapi.h"
#include "headers/bpf_helpers.h"
#include "headers/bpf_endian.h"

typedef _Bool bool;
#define true 1
#define false 0

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_P_QINQ_OLD 0x9100

#define IPPROTO_HOPOPTS 0
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_ICMPV6 58
#define IPPROTO_DSTOPTS 60

/* In-frame VLAN tags parsed (the contract asks for two; a third costs nothing). */
#define MAX_VLAN_TAGS 3
/* IPv6 extension headers skipped before giving up (the contract asks for 4). */
#define MAX_EXT_HDRS 8
/* No header tacap reads starts further into the frame than this. */
#define MAX_HDR_OFF 4096

/* Why a packet was or was not recorded. Go sees this enum (bpf2go -type). */
enum counter {
	COUNTER_SEEN = 0,
	COUNTER_RECORDED,
	COUNTER_NOT_IP,
	COUNTER_OTHER_PROTOCOL,
	COUNTER_MALFORMED,
	COUNTER_TRUNCATED,
	COUNTER_FILTERED,        /* recordable, but --filter did not match it */
	COUNTER_SESSION_TABLE_FULL,
	COUNTER_SESSION_QUOTA,
	COUNTER_BUFFER_FULL,
	/* Flow accounting, beside the packet reasons above (a packet is
	 * recorded or not, and independently in a flow or not). */
	COUNTER_FLOW_TABLE_FULL, /* recordable packets in no flow: the flow table was full */
	COUNTER_FLOWS_STARTED,   /* flows the program started */
	COUNTER_FLOWS_LOST,      /* flows ended here whose statistics the flow ring had no room for */
	COUNTER_FLOW_LOCK_TIMEOUT, /* recordable packets in no flow: their flow's lock stayed taken (never expected) */
	COUNTER_MAX,
};

/* Why a flow ended (docs/dataset.md, "flows/"). User space adds its own
 * reasons for the flows it ends. */
enum flow_end_reason {
	FLOW_END_NONE = 0,
	FLOW_END_IDLE = 1,   /* the packet came more than the idle timeout after the flow's last */
	FLOW_END_ACTIVE = 2, /* ... more than the active timeout after the flow's first */
	FLOW_END_REUSE = 3,  /* a TCP SYN without ACK after a FIN or RST of the flow */
};

enum direction {
	DIRECTION_UNKNOWN = 0,
	DIRECTION_INGRESS = 1,
	DIRECTION_EGRESS = 2,
};

/* Set by user space before load (CollectionSpec.Variables), read-only after. */
struct config {
	__u64 accept_restart_ns; /* --session-accept-restart */
	__u64 packet_restart_ns; /* --session-packet-restart */
	__u64 buffer_restart_ns; /* --buffer-restart */
	__u32 sessions_max;      /* --sessions: size of the session table */
	__u32 per_session;       /* --packets-per-session, 0 = no limit */
	__u8 bidirectional;      /* one session for both directions of a 5-tuple */
	/* Replay (pcap input and tests, through BPF_PROG_TEST_RUN): time comes
	 * from skb->tstamp, the direction from skb->cb[0], the frame's length
	 * on the wire from skb->cb[1] (0: the data's length) and the interface
	 * number from skb->cb[2] (0: skb->ifindex), the capture file's link
	 * header length less ETH_HLEN from skb->cb[3], all set by the caller, so a
	 * capture file's frames keep their own time, length and interface. */
	__u8 replay;
	/* Benchmarks only: make every packet a new session. */
	__u8 bench_unique_keys;
	__u8 _pad[5];
	__u64 flow_idle_ns;      /* --flow-idle-timeout */
	__u64 flow_active_ns;    /* --flow-active-timeout */
	__u64 flow_seed;         /* the flow table's hash seed, random for each load */
	__u32 flow_mask;         /* the flow table's slots less one (a power of two less one) */
	__u32 flows_max;         /* --flows: flows the table holds at most */
};

volatile const struct config CONFIG = {
	.accept_restart_ns = 5000000000ULL,
	.packet_restart_ns = 1000000000ULL,
	.buffer_restart_ns = 1000000000ULL,
	.sessions_max = 1024,
	.per_session = 100,
	.flow_idle_ns = 120000000000ULL,
	.flow_active_ns = 1800000000000ULL,
};

/* One recorded packet. Addresses are in network order, IPv4 in the first 4
 * bytes; every other field is in host order. */
struct record {
	__u64 ts_ns;             /* kernel clock (replay: skb->tstamp) */
	__u64 sess_first_ns;     /* identifies the session instance */
	__u64 sess_bytes_seen;    /* session's bytes seen, this packet included */
	__u32 sess_packets_seen;  /* session's packets seen, this packet included */
	__u32 sess_quota_refused; /* session's packets refused by its quota so far */
	__u32 ifindex;
	__u32 ip_len;
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u32 tcp_seq;
	__u32 tcp_ack;
	__u32 tcp_payload_len;
	__u32 gso_segs;
	__u64 flow_id;           /* the packet's flow (0: in none, the flow table was full) */
	__u16 src_port;
	__u16 dst_port;
	__u16 ip_flags_frag;
	__u16 tcp_window;
	__u16 udp_payload_len;
	__u16 vlan_id;
	__u8 ip_version;
	__u8 protocol;
	__u8 ttl;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 direction;
	__u8 _pad;
};

/* Aligned so that the flow table hashes and compares it a word at a time. */
struct session_key {
	__u8 addr_a[16];
	__u8 addr_b[16];
	__u16 port_a;
	__u16 port_b;
	__u8 protocol;
	__u8 ip_version;
	__u16 _pad;
} __attribute__((aligned(8)));

struct session {
	__u64 first_ns;         /* first packet seen: identifies this instance */
	__u64 last_seen_ns;     /* last packet seen */
	__u64 last_recorded_ns; /* last packet recorded (quota restart) */
	__u64 packets_seen;
	__u64 bytes_seen;
	__u32 quota_used;       /* recorded since the quota last restarted */
	__u32 quota_refused;    /* packets not recorded because of the quota */
};

struct counters {
	__u64 n[COUNTER_MAX];
};

/*
 * Flow statistics: sums, sums of squares, extremes and times from which
 * user space computes every statistic of the flows/ table exactly. Times
 * are the packets' own (kernel clock; replay: the frame's). Squares are
 * summed in 128 bits (lo, hi): a flow's gaps in nanoseconds squared
 * overflow 64 bits within seconds.
 */
struct flow_dir {
	__u64 first_ns;    /* this direction's first packet */
	__u64 last_ns;     /* its latest packet */
	__u64 packets;
	__u64 bytes;       /* sum of ip_len */
	__u64 payload;     /* sum of tcp_payload_len + udp_payload_len */
	__u64 len_sq_lo;   /* sum of ip_len squared */
	__u64 len_sq_hi;
	__u64 iat_sq_lo;   /* sum of squared gaps between its packets (ns^2) */
	__u64 iat_sq_hi;
	__u64 iat_min;     /* gaps, valid from the second packet */
	__u64 iat_max;
	__u32 len_min;
	__u32 len_max;
	__u32 init_window; /* window of its first packet with a TCP header */
	__u8 has_window;
	__u8 _pad[3];
};

struct flow_stats {
	__u64 id;          /* unique in the run; records carry it */
	__u64 first_ns;
	__u64 last_ns;
	__u64 iat_sq_lo;   /* gaps between consecutive packets of the flow */
	__u64 iat_sq_hi;
	__u64 iat_min;
	__u64 iat_max;
	__u64 flags[8];    /* TCP packets with FIN, SYN, RST, PSH, ACK, URG, ECE, CWR */
	__u64 recorded;    /* its packets the sampling recorded */
	__u8 fwd_is_a;     /* the flow's source is the key's endpoint a */
	__u8 fin_rst;      /* a FIN or RST was seen */
	__u8 _pad[6];
	struct flow_dir fwd;
	struct flow_dir bwd;
};

/* A slot of the flow table: a flow's key and statistics behind one lock,
 * so that packets of one flow on several CPUs never tear an update. The
 * lock is a word taken with an atomic compare-and-exchange and released
 * with an atomic and (both fully ordered), not bpf_spin_lock: the two
 * helper calls of that cost more than the whole rest of the flow's update
 * (BENCHMARKS.md). The programs run in softirq or with bottom halves
 * disabled, so a holder is never interrupted by another holder on its CPU,
 * and holds it for a few dozen instructions. */
enum slot_state {
	SLOT_EMPTY = 0,   /* ends every probe sequence that reaches it */
	SLOT_USED = 1,    /* holds the flow of key */
	SLOT_REMOVED = 2, /* free, but probing goes on past it (left by a removal that could not shift) */
};

struct flow {
	__u32 lock;
	__u32 state;       /* enum slot_state: changed under the table's and the slot's lock */
	struct session_key key;
	struct flow_stats st;
};

/* A flow the program ended, for user space (the flow_ends ring). */
struct flow_end {
	struct session_key key;
	__u32 reason;      /* enum flow_end_reason */
	__u32 _pad;
	struct flow_stats st;
};

/* Per-CPU: the packet's flow as the flow path works on it, off the stack. */
struct flow_scratch {
	struct session_key key; /* the packet's flow key (flow_key) */
	__u64 now;              /* its time */
	__u32 how;              /* FROM_A, RECORDED */
	__u32 home;             /* the key's hash: its first slot */
};

/* Sampling state shared by all CPUs (the prototype's globals). */
struct state {
	__u64 last_accept_ns;
	__u64 paused_at_ns;
	__u64 bench_salt;
	__u64 last_flow_id;
	__u32 tracked;
	__u32 paused;
	/* The flow table's structure (which slot holds which flow) changes
	 * only under this lock; flows_live counts its flows. */
	__u32 flow_table_lock;
	__u32 flows_live;
};

struct state STATE;

/* Sizes are placeholders: Load sets them from the options before loading. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct session_key);
	__type(value, struct session);
} sessions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} records SEC(".maps");

/*
 * What the --filter reads besides the record (bpf/filter compiles it
 * against this layout), filled by parse only when there is a filter.
 */
#define FILTER_BYTES_MAX 256
#define FILTER_TAGS 4
struct filter_ctx {
	__u32 frame_len;   /* the frame's length on the wire (tcpdump's len) */
	__u32 bytes_len;   /* bytes of the frame in bytes[] (0 unless the filter reads bytes) */
	__u16 l3_off;      /* the network header */
	__u16 l4_off;      /* the transport header */
	__u16 tag_id[FILTER_TAGS]; /* VLAN ids, outermost first: one the kernel took out of the frame, then the frame's */
	__u8 tags;         /* tags in tag_id */
	__u8 inline_tags;  /* of them, in the frame itself */
	__u8 nh0;          /* IPv6: the fixed header's next header */
	__u8 nh1;          /* IPv6: after a fragment header right behind it, that header's next header */
	__u8 bytes[FILTER_BYTES_MAX]; /* the frame's first bytes, when the filter reads bytes */
};

/* Per-CPU: the counters, the packet's record as it is built, the flow
 * path's scratch space and the filter's context. */
struct cpu_state {
	struct counters cnt;
	struct record rec;
	struct flow_scratch scratch;
	struct filter_ctx filter;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_state);
} stats SEC(".maps");

/*
 * The flow table: an array of slots, open addressing with linear probing
 * from the slot the key hashes to, at most FLOW_PROBES slots. An array,
 * not a BPF hash map: its lookup is a few instructions the verifier
 * inlines, not a helper that hashes the key, walks a bucket and compares,
 * which cost a tracked packet more than the rest of its flow's update
 * (BENCHMARKS.md). User space makes it twice as large as --flows, so that
 * probes stay short. Not LRU: a flow is never evicted silently. A packet
 * whose flow finds no room is counted (COUNTER_FLOW_TABLE_FULL);
 * tacap_expire, run by user space, removes the flows that went idle.
 */
#define FLOW_PROBES 256

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct flow);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} flow_ends SEC(".maps");

/* Force BTF for the types Go shares (bpf2go -type). */
const enum counter *unused_counter __attribute__((unused));
const enum direction *unused_direction __attribute__((unused));
const struct record *unused_record __attribute__((unused));
const struct replay_meta *unused_replay_meta __attribute__((unused));
const struct flow_end *unused_flow_end __attribute__((unused));
const struct filter_ctx *unused_filter_ctx __attribute__((unused));
const enum flow_end_reason *unused_flow_end_reason __attribute__((unused));
const enum slot_state *unused_slot_state __attribute__((unused));

struct ethhdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct vlanhdr {
	__be16 tci;
	__be16 proto;
};

struct iphdr {
	__u8 ihl_version; /* version in the high nibble */
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ipv6hdr {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct ipv6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

struct tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res; /* data offset in the high nibble */
	__u8 flags;    /* CWR ECE URG ACK PSH RST SYN FIN */
	__be16 window;
	__u16 check;
	__be16 urg_ptr;
};

struct udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__u16 check;
};

struct icmphdr {
	__u8 type;
	__u8 code;
	__u16 checksum;
};

union hdr_buf {
	struct ethhdr eth;
	struct vlanhdr vlan;
	struct iphdr ip4;
	struct ipv6hdr ip6;
	struct ipv6_opt_hdr opt;
	struct frag_hdr frag;
	struct tcphdr tcp;
	struct udphdr udp;
	struct icmphdr icmp;
};

struct pkt {
	void *ctx;
	void *data;
	void *data_end;
	__u32 base;      /* batch: where the frame starts in the buffer */
	__u32 frame_len; /* the frame on the wire, including bytes not in the linear area */
	__u32 cap_len;   /* the bytes of it the program can read */
	bool xdp;
	bool batch;      /* a frame of a replay batch: read only through the helper */
	__s16 len_delta; /* replay: the capture file's link header length less ETH_HLEN (a filter's len) */
};

/*
 * hdr returns a pointer to sizeof(type) bytes at off: straight into the packet
 * when they are in its linear part, else copied into buf (an skb whose headers
 * sit in paged fragments, as after GRO, or a frame deep in a replay batch),
 * else NULL when the captured frame ends first.
 */
static __always_inline void *load_slow(struct pkt *p, __u32 at, void *buf, __u32 size)
{
	long err;

	if (p->xdp)
		err = bpf_xdp_load_bytes(p->ctx, at, buf, size);
	else
		err = bpf_skb_load_bytes(p->ctx, at, buf, size);
	return err ? NULL : buf;
}

#define hdr(p, type, off, buf)                                                      \
	({                                                                          \
		type *__h = NULL;                                                   \
		__u32 __off = (off);                                                \
		if (__off <= MAX_HDR_OFF && __off + sizeof(type) <= (p)->cap_len) { \
			if ((p)->batch) {                                           \
				__h = load_slow((p), (p)->base + __off, (buf), sizeof(type)); \
			} else {                                                    \
				__h = (type *)((p)->data + __off);                  \
				if ((void *)(__h + 1) > (p)->data_end)              \
					__h = load_slow((p), __off, (buf), sizeof(type)); \
			}                                                           \
		}                                                                   \
		__h;                                                                \
	})

static __always_inline bool is_vlan(__u16 proto)
{
	return proto == ETH_P_8021Q || proto == ETH_P_8021AD || proto == ETH_P_QINQ_OLD;
}

static __always_inline bool is_l4(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_ICMP ||
	       proto == IPPROTO_ICMPV6;
}

/* Set by Load when there is a --filter (and when it reads raw bytes). */
volatile const __u8 FILTER = 0;
volatile const __u16 FILTER_BYTES = 0; /* how many of the frame's first bytes it reads */

/* filter_tag notes a VLAN tag for the filter. */
static __always_inline void filter_tag(struct filter_ctx *fc, __u16 id, bool in_frame)
{
	__u32 k = fc->tags;
	if (k < FILTER_TAGS)
		fc->tag_id[k & (FILTER_TAGS - 1)] = id;
	fc->tags = k + 1;
	fc->inline_tags += in_frame;
}

/*
 * parse fills r from the frame, or returns the reason it cannot be recorded.
 * Returns COUNTER_RECORDED when r is complete. With a filter it also notes
 * in fc what the filter reads besides r.
 */
static __always_inline enum counter parse(struct pkt *p, struct record *r, __u32 meta_tag,
					  struct filter_ctx *fc)
{
	union hdr_buf buf;
	__u32 off = ETH_HLEN, l3_off, l4_off, ip_end;
	__u16 proto;
	__u8 l4proto;
	bool first_frag = true;

	struct ethhdr *eth = hdr(p, struct ethhdr, 0, &buf);
	if (!eth)
		return COUNTER_TRUNCATED;
	proto = bpf_ntohs(eth->proto);
	r->vlan_id = meta_tag & 0x0fff;
	if (FILTER) {
		fc->tags = 0;
		fc->inline_tags = 0;
		if (meta_tag)
			filter_tag(fc, meta_tag & 0x0fff, false);
	}

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		if (!is_vlan(proto))
			break;
		struct vlanhdr *vh = hdr(p, struct vlanhdr, off, &buf);
		if (!vh)
			return COUNTER_TRUNCATED;
		r->vlan_id = bpf_ntohs(vh->tci) & 0x0fff;
		if (FILTER)
			filter_tag(fc, r->vlan_id, true);
		proto = bpf_ntohs(vh->proto);
		off += sizeof(struct vlanhdr);
	}

	l3_off = off;
	if (proto == ETH_P_IP) {
		struct iphdr *ip = hdr(p, struct iphdr, l3_off, &buf);
		if (!ip)
			return COUNTER_TRUNCATED;
		__u32 ihl = (ip->ihl_version & 0x0f) * 4;
		if ((ip->ihl_version >> 4) != 4 || ihl < sizeof(struct iphdr))
			return COUNTER_MALFORMED;
		if (l3_off + ihl > p->cap_len)
			return COUNTER_TRUNCATED; /* options cut off */
		__u32 tot_len = bpf_ntohs(ip->tot_len);
		if (tot_len == 0) /* TSO / BIG TCP: the length is the frame's */
			tot_len = p->frame_len > l3_off ? p->frame_len - l3_off : 0;
		if (tot_len < ihl)
			return COUNTER_MALFORMED;
		__u16 frag = bpf_ntohs(ip->frag_off);

		r->ip_version = 4;
		r->ip_len = tot_len;
		r->ip_flags_frag = frag;
		r->ttl = ip->ttl;
		__builtin_memcpy(r->src_addr, &ip->saddr, 4);
		__builtin_memcpy(r->dst_addr, &ip->daddr, 4);
		l4proto = ip->protocol;
		first_frag = (frag & 0x1fff) == 0;
		l4_off = l3_off + ihl;
		ip_end = l3_off + tot_len;
		if (FILTER)
			fc->l3_off = l3_off;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr *ip6 = hdr(p, struct ipv6hdr, l3_off, &buf);
		if (!ip6)
			return COUNTER_TRUNCATED;
		if ((bpf_ntohl(ip6->ver_tc_flow) >> 28) != 6)
			return COUNTER_MALFORMED;
		__u32 tot_len = bpf_ntohs(ip6->payload_len) + sizeof(struct ipv6hdr);
		if (tot_len == sizeof(struct ipv6hdr) && p->frame_len > l3_off + sizeof(struct ipv6hdr))
			tot_len = p->frame_len - l3_off; /* BIG TCP over IPv6 */

		r->ip_version = 6;
		r->ip_len = tot_len;
		r->ttl = ip6->hop_limit;
		__builtin_memcpy(r->src_addr, ip6->saddr, 16);
		__builtin_memcpy(r->dst_addr, ip6->daddr, 16);
		l4proto = ip6->nexthdr;
		l4_off = l3_off + sizeof(struct ipv6hdr);
		ip_end = l3_off + tot_len;
		if (FILTER) {
			fc->l3_off = l3_off;
			fc->nh0 = l4proto;
			fc->nh1 = 255;
		}

#pragma unroll
		for (int i = 0; i < MAX_EXT_HDRS; i++) {
			if (l4proto == IPPROTO_FRAGMENT) {
				struct frag_hdr *fh = hdr(p, struct frag_hdr, l4_off, &buf);
				if (!fh)
					return COUNTER_TRUNCATED;
				__u16 fo = bpf_ntohs(fh->frag_off);
				if (FILTER && i == 0)
					fc->nh1 = fh->nexthdr;
				r->ip_flags_frag = (fo & 0xfff8) | (fo & 1);
				l4proto = fh->nexthdr;
				l4_off += sizeof(struct frag_hdr);
				if (fo & 0xfff8) {
					first_frag = false;
					break;
				}
			} else if (l4proto == IPPROTO_HOPOPTS || l4proto == IPPROTO_ROUTING ||
				   l4proto == IPPROTO_DSTOPTS || l4proto == IPPROTO_AH) {
				struct ipv6_opt_hdr *oh = hdr(p, struct ipv6_opt_hdr, l4_off, &buf);
				if (!oh)
					return COUNTER_TRUNCATED;
				__u32 len = l4proto == IPPROTO_AH ? ((__u32)oh->hdrlen + 2) * 4
								  : ((__u32)oh->hdrlen + 1) * 8;
				l4proto = oh->nexthdr;
				l4_off += len;
			} else {
				break;
			}
		}
	} else {
		return COUNTER_NOT_IP;
	}

	if (!is_l4(l4proto))
		return COUNTER_OTHER_PROTOCOL;
	r->protocol = l4proto;
	if (FILTER)
		fc->l4_off = l4_off;
	if (!first_frag)
		return COUNTER_RECORDED; /* ports and L4 fields stay 0 */
	if (l4_off > ip_end)
		return COUNTER_MALFORMED; /* IP headers longer than the packet */

	if (l4proto == IPPROTO_TCP) {
		if (l4_off + sizeof(struct tcphdr) > ip_end)
			return COUNTER_TRUNCATED;
		struct tcphdr *th = hdr(p, struct tcphdr, l4_off, &buf);
		if (!th)
			return COUNTER_TRUNCATED;
		__u32 doff = (th->doff_res >> 4) * 4;
		if (doff < sizeof(struct tcphdr))
			return COUNTER_MALFORMED;
		if (l4_off + doff > ip_end)
			return COUNTER_MALFORMED; /* TCP header longer than the IP payload */
		r->src_port = bpf_ntohs(th->source);
		r->dst_port = bpf_ntohs(th->dest);
		r->tcp_seq = bpf_ntohl(th->seq);
		r->tcp_ack = bpf_ntohl(th->ack_seq);
		r->tcp_flags = th->flags;
		r->tcp_window = bpf_ntohs(th->window);
		r->tcp_payload_len = ip_end - l4_off - doff;
	} else if (l4proto == IPPROTO_UDP) {
		if (l4_off + sizeof(struct udphdr) > ip_end)
			return COUNTER_TRUNCATED;
		struct udphdr *uh = hdr(p, struct udphdr, l4_off, &buf);
		if (!uh)
			return COUNTER_TRUNCATED;
		__u16 ulen = bpf_ntohs(uh->len);
		if (ulen < sizeof(struct udphdr))
			return COUNTER_MALFORMED;
		r->src_port = bpf_ntohs(uh->source);
		r->dst_port = bpf_ntohs(uh->dest);
		r->udp_payload_len = ulen - sizeof(struct udphdr);
	} else {
		if (l4_off + sizeof(struct icmphdr) > ip_end)
			return COUNTER_TRUNCATED;
		struct icmphdr *ih = hdr(p, struct icmphdr, l4_off, &buf);
		if (!ih)
			return COUNTER_TRUNCATED;
		r->icmp_type = ih->type;
		r->icmp_code = ih->code;
	}
	return COUNTER_RECORDED;
}

/* A total order on (address, port) endpoints, for bidirectional keys. */
static __always_inline bool endpoint_less(const __u8 *a, __u16 pa, const __u8 *b, __u16 pb)
{
	__u64 a0 = *(__u64 *)a, b0 = *(__u64 *)b;
	__u64 a1 = *(__u64 *)(a + 8), b1 = *(__u64 *)(b + 8);

	if (a0 != b0)
		return a0 < b0;
	if (a1 != b1)
		return a1 < b1;
	return pa < pb;
}

/*
 * flow_key fills k with the packet's biflow key, its endpoints in a total
 * order, and reports whether the packet's source is the key's endpoint a.
 */
static __always_inline bool flow_key(struct session_key *k, const struct record *r)
{
	bool swap = endpoint_less(r->dst_addr, r->dst_port, r->src_addr, r->src_port);

	if (swap) {
		__builtin_memcpy(k->addr_a, r->dst_addr, 16);
		__builtin_memcpy(k->addr_b, r->src_addr, 16);
		k->port_a = r->dst_port;
		k->port_b = r->src_port;
	} else {
		__builtin_memcpy(k->addr_a, r->src_addr, 16);
		__builtin_memcpy(k->addr_b, r->dst_addr, 16);
		k->port_a = r->src_port;
		k->port_b = r->dst_port;
	}
	k->protocol = r->protocol;
	k->ip_version = r->ip_version;
	k->_pad = 0;
	return !swap;
}

/* session_key is the sampling's key: the flow's when sessions are
 * bidirectional, else the packet's direction — the flow key, its endpoints
 * swapped when the packet comes from b. */
static __always_inline void session_key(struct session_key *k, const struct session_key *fk, bool from_a)
{
	*k = *fk;
	if (CONFIG.bidirectional || from_a)
		return;
	__builtin_memcpy(k->addr_a, fk->addr_b, 16);
	__builtin_memcpy(k->addr_b, fk->addr_a, 16);
	k->port_a = fk->port_b;
	k->port_b = fk->port_a;
}

/*
 * Time: every recordable packet is timed once, precisely (its flow's gaps
 * need it), and that time serves every decision and its record. Live: the
 * monotonic clock; replay: the frame's own time. Comparisons are signed:
 * packets stamped on two CPUs may arrive a little out of order.
 */
struct clock {
	__u64 tstamp;
	__u64 precise;
};

static __always_inline __u64 precise_now(struct clock *c)
{
	if (CONFIG.replay)
		return c->tstamp;
	if (!c->precise)
		c->precise = bpf_ktime_get_ns();
	return c->precise;
}

/* within reports whether less than window has passed from then to now. A
 * now a little before then (another CPU's packet) counts as within, unless
 * there is no window at all. */
static __always_inline bool within(__u64 now, __u64 then, __u64 window)
{
	return window && (__s64)(now - then) < (__s64)window;
}

static __always_inline void saw(struct session *s, __u64 now)
{
	/* Another CPU may have stored a slightly later time. */
	if ((__s64)(now - s->last_seen_ns) > 0)
		s->last_seen_ns = now;
}

static __always_inline void pause_buffer(__u64 now)
{
	STATE.paused_at_ns = now;
	STATE.paused = 1;
}

/* stage fills a reserved slot; handle submits it once the packet's flow is
 * known. */
static __always_inline void stage(struct record *slot, const struct record *r, __u64 now,
				  struct record **out)
{
	*slot = *r;
	slot->ts_ns = now;
	if (STATE.paused)
		STATE.paused = 0;
	*out = slot;
}

/*
 * sample applies the prototype's algorithm (docs/dataset.md, "Sampling") to a parsed
 * packet and, when it is to be recorded, returns its filled ring slot in
 * *out, for the caller to submit (no wakeup: the reader polls and consumes in
 * batches, far cheaper than a wakeup per record). A session is charged only
 * for what was actually recorded: the ring slot is reserved before the
 * session's quota moves.
 */
static __always_inline enum counter sample(struct record *r, struct clock *clk,
					   struct session_key *keyp, struct record **out)
{
	struct session_key key = *keyp;
	struct session *s;
	struct record *slot;
	__u64 now;

	if (CONFIG.bench_unique_keys) {
		__u64 salt = __sync_fetch_and_add(&STATE.bench_salt, 1);
		*(__u64 *)&key.addr_b[8] ^= salt;
	}

	if (STATE.paused && within(precise_now(clk), STATE.paused_at_ns, CONFIG.buffer_restart_ns)) {
		/* Still the session's packet: count it as seen if it is tracked. */
		s = bpf_map_lookup_elem(&sessions, &key);
		if (s) {
			__sync_fetch_and_add(&s->packets_seen, 1);
			__sync_fetch_and_add(&s->bytes_seen, r->ip_len);
			saw(s, precise_now(clk));
		}
		return COUNTER_BUFFER_FULL;
	}

	s = bpf_map_lookup_elem(&sessions, &key);
	if (!s) {
		if (STATE.tracked >= CONFIG.sessions_max) {
			if (within(precise_now(clk), STATE.last_accept_ns, CONFIG.accept_restart_ns))
				return COUNTER_SESSION_TABLE_FULL;
			/* From now on new sessions replace the least recently used. */
			STATE.tracked = 0;
		}
		/* A new session is inserted already charged with its first
		 * packet: one map update, no second lookup. */
		now = precise_now(clk);
		struct session fresh = {
			.first_ns = now,
			.last_seen_ns = now,
			.packets_seen = 1,
			.bytes_seen = r->ip_len,
		};
		slot = bpf_ringbuf_reserve(&records, sizeof(*slot), 0);
		if (slot) {
			fresh.quota_used = 1;
			fresh.last_recorded_ns = now;
		}
		/* NOEXIST: a session another CPU inserted meanwhile is kept. */
		if (bpf_map_update_elem(&sessions, &key, &fresh, BPF_NOEXIST) == 0) {
			__sync_fetch_and_add(&STATE.tracked, 1);
			STATE.last_accept_ns = now;
			if (!slot) {
				pause_buffer(now);
				return COUNTER_BUFFER_FULL;
			}
			r->sess_first_ns = now;
			r->sess_packets_seen = 1;
			r->sess_bytes_seen = r->ip_len;
			stage(slot, r, now, out);
			return COUNTER_RECORDED;
		}
		if (slot)
			bpf_ringbuf_discard(slot, BPF_RB_NO_WAKEUP);
		s = bpf_map_lookup_elem(&sessions, &key);
		if (!s) /* evicted again at once by other CPUs: table thrashing */
			return COUNTER_SESSION_TABLE_FULL;
	}

	r->sess_packets_seen = __sync_fetch_and_add(&s->packets_seen, 1) + 1;
	r->sess_bytes_seen = __sync_fetch_and_add(&s->bytes_seen, r->ip_len) + r->ip_len;
	r->sess_first_ns = s->first_ns;

	if (CONFIG.per_session && s->quota_used >= CONFIG.per_session) {
		if (within(precise_now(clk), s->last_recorded_ns, CONFIG.packet_restart_ns)) {
			__sync_fetch_and_add(&s->quota_refused, 1);
			saw(s, precise_now(clk));
			return COUNTER_SESSION_QUOTA;
		}
		s->quota_used = 0;
	}

	slot = bpf_ringbuf_reserve(&records, sizeof(*slot), 0);
	if (!slot) {
		pause_buffer(precise_now(clk));
		saw(s, precise_now(clk));
		return COUNTER_BUFFER_FULL;
	}
	now = precise_now(clk);
	r->sess_quota_refused = s->quota_refused;
	stage(slot, r, now, out);
	__sync_fetch_and_add(&s->quota_used, 1);
	s->last_recorded_ns = now;
	saw(s, now);
	return COUNTER_RECORDED;
}

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* has_l4 reports whether the packet's L4 header was parsed (every packet
 * but a non-first fragment). */
static __always_inline bool has_l4(const struct record *r)
{
	__u16 offset = r->ip_version == 4 ? (r->ip_flags_frag & 0x1fff) : (r->ip_flags_frag & 0xfff8);
	return offset == 0;
}

/* add_square adds v*v to the 128-bit sum (lo, hi). */
static __always_inline void add_square(__u64 *lo, __u64 *hi, __u64 v)
{
	if (v >> 32 == 0) { /* most values: a gap under 4.3 s, any length */
		__u64 sq = v * v, n = *lo + sq;

		*hi += n < sq;
		*lo = n;
		return;
	}
	__u64 v0 = v & 0xffffffff, v1 = v >> 32;
	__u64 p0 = v0 * v0, p1 = v0 * v1, p2 = v1 * v1;
	__u64 sq_lo = p0 + (p1 << 33);
	__u64 sq_hi = p2 + (p1 >> 31) + (sq_lo < p0);
	__u64 n = *lo + sq_lo;

	*hi += sq_hi + (n < sq_lo);
	*lo = n;
}

/* gap is the time from last to now, 0 when now is not later (packets of
 * one flow stamped on two CPUs, or an out-of-order capture file). */
static __always_inline __u64 gap(__u64 now, __u64 last)
{
	__s64 d = now - last;
	return d > 0 ? d : 0;
}

static __always_inline void add_gap(__u64 *lo, __u64 *hi, __u64 *min, __u64 *max, __u64 g, bool first)
{
	if (first || g < *min)
		*min = g;
	if (first || g > *max)
		*max = g;
	add_square(lo, hi, g);
}

static __always_inline void dir_add(struct flow_dir *d, const struct record *r, __u64 now, bool tcp)
{
	__u32 len = r->ip_len;
	__u64 sq = (__u64)len * len;

	if (d->packets == 0) {
		d->first_ns = now;
		d->last_ns = now;
		d->len_min = len;
		d->len_max = len;
	} else {
		add_gap(&d->iat_sq_lo, &d->iat_sq_hi, &d->iat_min, &d->iat_max, gap(now, d->last_ns),
			d->packets == 1);
		if ((__s64)(now - d->last_ns) > 0)
			d->last_ns = now;
		if (len < d->len_min)
			d->len_min = len;
		if (len > d->len_max)
			d->len_max = len;
	}
	if (tcp && !d->has_window) {
		d->init_window = r->tcp_window;
		d->has_window = 1;
	}
	d->packets++;
	d->bytes += len;
	d->payload += r->tcp_payload_len + r->udp_payload_len;
	d->len_sq_lo += sq;
	d->len_sq_hi += d->len_sq_lo < sq;
}

/* add_packet counts one packet into st (under the flow's lock). */
static __always_inline void add_packet(struct flow_stats *st, const struct record *r, __u64 now, int from_a,
				       int recorded)
{
	bool tcp = r->protocol == IPPROTO_TCP && has_l4(r);
	__u64 before = st->fwd.packets + st->bwd.packets;

	if (before) {
		add_gap(&st->iat_sq_lo, &st->iat_sq_hi, &st->iat_min, &st->iat_max, gap(now, st->last_ns),
			before == 1);
		if ((__s64)(now - st->last_ns) > 0)
			st->last_ns = now;
	}
	dir_add(from_a == st->fwd_is_a ? &st->fwd : &st->bwd, r, now, tcp);
	if (tcp) {
		__u8 fl = r->tcp_flags;
#pragma unroll
		for (int i = 0; i < 8; i++)
			st->flags[i] += (fl >> i) & 1;
		if (fl & (TCP_FIN | TCP_RST))
			st->fin_rst = 1;
	}
	st->recorded += recorded;
}

/*
 * flow_add is add_packet as a global function, and so is flow_start: the
 * verifier checks each once, not at every call site of every entry point,
 * which keeps loading fast. Only the most common path, a packet of the
 * flow in its key's first slot, has add_packet inline.
 */
__attribute__((noinline)) int flow_add(struct flow_stats *st, const struct record *r, __u64 now, int from_a,
				       int recorded)
{
	if (!st || !r)
		return 0;
	add_packet(st, r, now, from_a, recorded);
	return 0;
}

/* flow_start makes st a new flow, still empty, whose first packet is r
 * (how: FROM_A, RECORDED). Its source is the packet's sender, or its receiver when the
 * packet is a SYN-ACK (the SYN was missed). */
#define FROM_A 1
#define RECORDED 2

__attribute__((noinline)) int flow_start(struct flow_stats *st, __u64 id, const struct record *r, __u64 now,
					 int how)
{
	int from_a = how & FROM_A;

	if (!st || !r)
		return 0;
	/* A flow whose endpoints are equal has every packet from a: its
	 * SYN-ACK's receiver is its sender. */
	bool same = !endpoint_less(r->src_addr, r->src_port, r->dst_addr, r->dst_port) &&
		    !endpoint_less(r->dst_addr, r->dst_port, r->src_addr, r->src_port);
	bool syn_ack = r->protocol == IPPROTO_TCP && has_l4(r) && !same &&
		       (r->tcp_flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK);

	__builtin_memset(st, 0, sizeof(*st));
	st->id = id;
	st->first_ns = now;
	st->last_ns = now;
	st->fwd_is_a = syn_ack ? !from_a : !!from_a;
	return 0;
}

/* flow_begin makes st a new flow of packet r: a call less deep than
 * flow_start calling flow_add, which keeps the stack of the deepest call
 * chain within the verifier's 512 bytes. */
static __always_inline void flow_begin(struct flow_stats *st, __u64 id, const struct record *r, __u64 now, int how)
{
	flow_start(st, id, r, now, how);
	flow_add(st, r, now, how & FROM_A, !!(how & RECORDED));
}

/* flow_end_reason says whether packet r, arriving at now, ends flow st
 * (docs/dataset.md, "flows/"): rules checked in this order. */
static __always_inline __u32 flow_end_reason(const struct flow_stats *st, const struct record *r, __u64 now)
{
	if ((__s64)(now - st->last_ns) > (__s64)CONFIG.flow_idle_ns)
		return FLOW_END_IDLE;
	if ((__s64)(now - st->first_ns) > (__s64)CONFIG.flow_active_ns)
		return FLOW_END_ACTIVE;
	if (st->fin_rst && r->protocol == IPPROTO_TCP && has_l4(r) &&
	    (r->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
		return FLOW_END_REUSE;
	return FLOW_END_NONE;
}

/* Locks: one attempt inline, then (contended: another CPU holds it) up to
 * 1 << 20 more in a bpf_loop. */
struct lock_try {
	__u32 *lock;
	bool got;
};

static long try_lock(__u64 index, void *data)
{
	struct lock_try *t = data;

	t->got = __sync_val_compare_and_swap(t->lock, 0, 1) == 0;
	return t->got;
}

static __always_inline bool lock_word(__u32 *lock)
{
	if (__sync_val_compare_and_swap(lock, 0, 1) == 0)
		return true;
	struct lock_try t = { .lock = lock };
	bpf_loop(1 << 20, try_lock, &t, 0);
	return t.got;
}

static __always_inline void unlock_word(__u32 *lock)
{
	__sync_fetch_and_and(lock, 0);
}

static __always_inline __u64 next_flow_id(void)
{
	return __sync_fetch_and_add(&STATE.last_flow_id, 1) + 1;
}

/* flow_hash is the key's first slot: a multiply-xor hash of its five words
 * under the load's random seed, so that packets are not aimed at one probe
 * sequence by anyone who does not know it. Not a keyed cryptographic hash:
 * the most a flood crafted against it could do is make probe sequences
 * long and flows find no room, counted as flow_table_full. */
static __always_inline __u32 flow_hash(const struct session_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 s = CONFIG.flow_seed;
	/* Five products that do not wait for each other. */
	__u64 h = ((w[0] ^ s) * 0x9e3779b97f4a7c15ULL) ^ ((w[1] ^ s) * 0xc2b2ae3d27d4eb4fULL) ^
		  ((w[2] ^ s) * 0x165667b19e3779f9ULL) ^ ((w[3] ^ s) * 0xd6e8feb86659fd93ULL) ^
		  ((w[4] ^ s) * 0xff51afd7ed558ccdULL);

	h ^= h >> 29;
	h *= 0x94d049bb133111ebULL;
	return h >> 32 ^ h;
}

static __always_inline bool key_eq(const struct session_key *a, const struct session_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}

static __always_inline struct flow *flow_slot(__u32 at)
{
	__u32 i = at & CONFIG.flow_mask;
	return bpf_map_lookup_elem(&flows, &i);
}

/* FLOW_TIMEOUT: the flow's lock, or the table's, stayed taken. */
#define FLOW_TIMEOUT (~0ULL)

/*
 * count_in counts the packet of cs->scratch into the flow in slot f, under
 * the slot's lock, and returns the flow's id. A packet that ends the flow
 * starts the next one in the same slot, and the ended flow goes to user
 * space through the flow_ends ring. It returns 0 when f does not hold the
 * packet's flow (any more: tacap_expire removed or moved it), FLOW_TIMEOUT
 * when the slot's lock could not be taken.
 */
static __always_inline __u64 count_in(struct cpu_state *cs, struct flow *f, const struct record *r)
{
	struct flow_scratch *a = &cs->scratch;
	struct flow_end *e = NULL;
	__u32 reason;
	__u64 id;

	if (!lock_word(&f->lock))
		return FLOW_TIMEOUT;
	if (f->state != SLOT_USED || !key_eq(&f->key, &a->key)) {
		unlock_word(&f->lock);
		return 0;
	}
	reason = flow_end_reason(&f->st, r, a->now);
	if (!reason) {
		add_packet(&f->st, r, a->now, a->how & FROM_A, !!(a->how & RECORDED));
		id = f->st.id;
		unlock_word(&f->lock);
		return id;
	}
	/* The ended flow goes straight from the slot into the ring. */
	e = bpf_ringbuf_reserve(&flow_ends, sizeof(*e), 0);
	if (e) {
		e->key = f->key;
		e->reason = reason;
		e->_pad = 0;
		e->st = f->st;
	}
	id = next_flow_id();
	flow_begin(&f->st, id, r, a->now, a->how);
	unlock_word(&f->lock);
	cs->cnt.n[COUNTER_FLOWS_STARTED]++;
	if (e)
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	else
		cs->cnt.n[COUNTER_FLOWS_LOST]++;
	return id;
}

/* flow_in is count_in as a global function, for the paths that are not
 * the most common one: the verifier checks it once. */
__attribute__((noinline)) __u64 flow_in(struct cpu_state *cs, struct flow *f, const struct record *r)
{
	if (!cs || !f || !r)
		return 0;
	return count_in(cs, f, r);
}

/* A walk along a key's probe sequence. */
struct probe {
	const struct session_key *key;
	__u32 home;
	__u32 from;  /* the first slot to look at, counted from home */
	__u32 found; /* valid when has_found: the slot that holds key */
	__u32 free;  /* valid when has_free: the first empty or removed slot */
	bool has_found;
	bool has_free;
};

static long probe_one(__u64 i, void *data)
{
	struct probe *p = data;
	__u32 at = p->home + p->from + (__u32)i;
	struct flow *f = flow_slot(at);

	if (!f)
		return 1;
	if (f->state == SLOT_USED) {
		if (!key_eq(&f->key, p->key))
			return 0;
		p->found = at;
		p->has_found = true;
		return 1;
	}
	if (!p->has_free) {
		p->free = at;
		p->has_free = true;
	}
	/* An empty slot ends every probe sequence that reaches it. */
	return f->state == SLOT_EMPTY;
}

/*
 * flow_place counts the packet of cs->scratch into its flow when its
 * flow's slot is not the first of its probe sequence, or starts its flow
 * in a free slot, and returns the flow's id, 0 when the table has no room,
 * FLOW_TIMEOUT when a lock stayed taken. Without locks it looks along the
 * probe sequence; then, under the table's lock, it looks again, and only
 * then claims a slot, so that two CPUs never start one flow twice.
 */
__attribute__((noinline)) __u64 flow_place(struct cpu_state *cs, const struct record *r)
{
	struct flow *f;
	__u64 id;

	if (!cs || !r)
		return 0;
	struct flow_scratch *a = &cs->scratch;
	struct probe p = { .key = &a->key, .home = a->home, .from = 1 };

	bpf_loop(FLOW_PROBES - 1, probe_one, &p, 0);
	if (p.has_found) {
		f = flow_slot(p.found);
		if (f) {
			id = flow_in(cs, f, r);
			if (id)
				return id;
		}
	}

	if (!lock_word(&STATE.flow_table_lock))
		return FLOW_TIMEOUT;
	p.from = 0;
	p.has_found = p.has_free = false;
	bpf_loop(FLOW_PROBES, probe_one, &p, 0);
	if (p.has_found) {
		/* Under the table's lock no one can remove it. */
		f = flow_slot(p.found);
		id = f ? flow_in(cs, f, r) : 0;
		goto out;
	}
	id = 0;
	if (!p.has_free || STATE.flows_live >= CONFIG.flows_max)
		goto out;
	f = flow_slot(p.free);
	if (!f)
		goto out;
	if (!lock_word(&f->lock)) { /* a packet of the slot's old flow looking */
		id = FLOW_TIMEOUT;
		goto out;
	}
	id = next_flow_id();
	f->key = a->key;
	flow_begin(&f->st, id, r, a->now, a->how);
	f->state = SLOT_USED;
	unlock_word(&f->lock);
	STATE.flows_live++;
	cs->cnt.n[COUNTER_FLOWS_STARTED]++;
out:
	unlock_word(&STATE.flow_table_lock);
	return id;
}

/*
 * flow_track counts the packet r, whose flow key handle put in
 * cs->scratch.key, into its flow and returns the flow's id, or 0 when it
 * is in no flow (counted: the table had no room, or a lock stayed taken).
 * The flow is most often in the first slot its key hashes to: looked at
 * here, without a call.
 */
static __always_inline __u64 flow_track(struct cpu_state *cs, bool from_a, const struct record *r, __u64 now,
					bool recorded)
{
	struct flow_scratch *a = &cs->scratch;
	__u64 id = 0;

	a->now = now;
	a->how = (from_a ? FROM_A : 0) | (recorded ? RECORDED : 0);
	a->home = flow_hash(&a->key);
	struct flow *f = flow_slot(a->home);
	if (f && f->state == SLOT_USED && key_eq(&f->key, &a->key))
		id = count_in(cs, f, r);
	if (!id)
		id = flow_place(cs, r);
	if (id && id != FLOW_TIMEOUT)
		return id;
	cs->cnt.n[id ? COUNTER_FLOW_LOCK_TIMEOUT : COUNTER_FLOW_TABLE_FULL]++;
	return 0;
}

/*
 * The --filter's place. Load puts the program bpf/filter compiled from the
 * expression in place of each call to this function (the code reads r in
 * R1 and fc in R2, where the call passes them, and leaves its verdict in
 * R0) and drops the function. Without a filter FILTER is 0 and the call is
 * never made. noinline and global, so the call and its argument registers
 * stay in the object for Load to find.
 */
__attribute__((noinline)) int tacap_filter(const struct record *r, const struct filter_ctx *fc)
{
	if (!r || !fc)
		return 0;
	return FILTER;
}

/* filter_bytes copies the frame's first bytes for a filter's byte tests. */
static __always_inline void filter_bytes(struct pkt *p, struct filter_ctx *fc)
{
	__u32 want = FILTER_BYTES < FILTER_BYTES_MAX ? FILTER_BYTES : FILTER_BYTES_MAX;
	__u32 n = p->cap_len < want ? p->cap_len : want;
	long err;

	fc->bytes_len = 0;
	if (n == 0)
		return;
	if (p->xdp)
		err = bpf_xdp_load_bytes(p->ctx, p->base, fc->bytes, n);
	else
		err = bpf_skb_load_bytes(p->ctx, 0, fc->bytes, n);
	if (!err)
		fc->bytes_len = n;
}

static __always_inline void handle(struct pkt *p, __u8 direction, __u32 ifindex, __u32 meta_tag,
				   __u32 gso_segs, __u64 tstamp)
{
	__u32 zero = 0;
	struct cpu_state *cs = bpf_map_lookup_elem(&stats, &zero);
	if (!cs)
		return;
	cs->cnt.n[COUNTER_SEEN]++;

	/* The record is built in per-CPU memory: on the stack it would leave
	 * the flow path's calls too little of the verifier's 512 bytes. */
	struct record *r = &cs->rec;
	__builtin_memset(r, 0, sizeof(*r));
	enum counter verdict = parse(p, r, meta_tag, &cs->filter);
	r->direction = direction;
	if (FILTER && verdict == COUNTER_RECORDED) {
		cs->filter.frame_len = p->frame_len + p->len_delta;
		if (FILTER_BYTES)
			filter_bytes(p, &cs->filter);
		if (!tacap_filter(r, &cs->filter))
			verdict = COUNTER_FILTERED;
	}
	if (verdict == COUNTER_RECORDED) {
		r->ifindex = ifindex;
		r->gso_segs = gso_segs > 1 ? gso_segs : 1;
		/* Every packet is timed precisely: its flow's gaps need it. */
		struct clock clk = { .tstamp = tstamp };
		__u64 now = precise_now(&clk);
		struct session_key sk;
		bool from_a = flow_key(&cs->scratch.key, r);
		struct record *slot = NULL;

		session_key(&sk, &cs->scratch.key, from_a);
		verdict = sample(r, &clk, &sk, &slot);
		__u64 id = flow_track(cs, from_a, r, now, slot != NULL);
		if (slot) {
			slot->flow_id = id;
			bpf_ringbuf_submit(slot, BPF_RB_NO_WAKEUP);
		}
	}
	if (verdict < COUNTER_MAX)
		cs->cnt.n[verdict]++;
}

static __always_inline void handle_skb(struct __sk_buff *skb, __u8 direction)
{
	struct pkt p = {
		.ctx = skb,
		.data = (void *)(long)skb->data,
		.data_end = (void *)(long)skb->data_end,
		.frame_len = skb->len,
		.cap_len = skb->len,
		.xdp = false,
	};
	/* A VLAN tag the kernel took out of the frame: bit 16 says there is one. */
	__u32 meta_tag = skb->vlan_present ? 0x10000 | (skb->vlan_tci & 0x0fff) : 0;

	__u32 ifindex = skb->ifindex;
	if (CONFIG.replay) {
		direction = skb->cb[0];
		if (skb->cb[1] > p.frame_len)
			p.frame_len = skb->cb[1];
		if (skb->cb[2])
			ifindex = skb->cb[2];
		p.len_delta = (__s16)skb->cb[3];
	}
	handle(&p, direction, ifindex, meta_tag, skb->gso_segs, skb->tstamp);
}

SEC("tc")
int tacap_tc_ingress(struct __sk_buff *skb)
{
	handle_skb(skb, DIRECTION_INGRESS);
	return TC_ACT_UNSPEC; /* continue: let the rest of the chain decide */
}

SEC("tc")
int tacap_tc_egress(struct __sk_buff *skb)
{
	handle_skb(skb, DIRECTION_EGRESS);
	return TC_ACT_UNSPEC;
}

SEC("xdp")
int tacap_xdp(struct xdp_md *ctx)
{
	struct pkt p = {
		.ctx = ctx,
		.data = (void *)(long)ctx->data,
		.data_end = (void *)(long)ctx->data_end,
		.xdp = true,
	};
	p.frame_len = p.data_end - p.data;
	p.cap_len = p.frame_len;
	handle(&p, DIRECTION_INGRESS, ctx->ingress_ifindex, 0, 1, 0);
	return XDP_PASS;
}

/*
 * The sweeper: user space runs tacap_expire (BPF_PROG_TEST_RUN) to take
 * every flow whose last packet came before EXPIRE_BEFORE out of the table,
 * each sent through the flow_ends ring as ended idle. A flow a packet is
 * updating at that moment is not idle and is passed over; a flow leaves
 * its slot under the slot's lock, so a packet that found it just before
 * sees it gone and starts the flow anew instead of counting into it.
 */
__u64 EXPIRE_BEFORE;
__u32 EXPIRE_FROM; /* the first slot the run looks at */
__u32 EXPIRE_NEXT; /* where the next run goes on: the table's size when the sweep is done */
__u32 EXPIRED;     /* flows the last run removed */

/* A removal's backward shift along the slots after the one removed. */
struct shift {
	__u32 hole;  /* the slot being emptied, held locked */
	__u32 step;  /* how far after it the shift looks */
	bool stuck;  /* a slot's lock stayed taken: the hole stays, removed */
};

static long shift_one(__u64 i, void *data)
{
	struct shift *s = data;
	__u32 d = ++s->step;

	if (d >= FLOW_PROBES)
		return 1; /* no flow this far from the hole has its first slot before it */
	__u32 j = (s->hole + d) & CONFIG.flow_mask;
	struct flow *g = flow_slot(j);
	if (!g || g->state == SLOT_EMPTY)
		return 1;
	if (g->state != SLOT_USED)
		return 0;
	/* A flow whose first slot is after the hole stays where it is. */
	if (((j - flow_hash(&g->key)) & CONFIG.flow_mask) < d)
		return 0;
	struct flow *h = flow_slot(s->hole);
	if (!h)
		return 1;
	if (!lock_word(&g->lock)) {
		s->stuck = true;
		return 1;
	}
	h->key = g->key;
	h->st = g->st;
	h->state = SLOT_USED;
	unlock_word(&h->lock);
	s->hole = j;
	s->step = 0;
	return 0;
}

/*
 * remove_flow takes the flow in slot at, whose lock the caller holds, out
 * of the table, under the table's lock, and lets go of the slot's lock.
 * Deletion by backward shift: each later flow of the run of full slots
 * that may fill the hole without leaving its probe sequence moves into it,
 * and the last hole becomes empty, so that no removed slots pile up and
 * probe sequences stay as short as at the start. A flow being moved is
 * locked, and the table's lock keeps inserts out: a packet that misses
 * its flow meanwhile looks again under that lock and finds it.
 */
static __always_inline void remove_flow(__u32 at)
{
	struct shift s = { .hole = at & CONFIG.flow_mask };

	STATE.flows_live--;
	bpf_loop(1 << 16, shift_one, &s, 0);
	struct flow *h = flow_slot(s.hole);
	if (!h)
		return; /* never: the hole is a slot */
	h->st.id = 0;
	h->state = s.stuck ? SLOT_REMOVED : SLOT_EMPTY;
	unlock_word(&h->lock);
}

/* What expire_slot did with a slot. */
enum expired {
	EXPIRE_PASS,   /* the slot holds no idle flow: the sweep goes on after it */
	EXPIRE_TAKEN,  /* it took the flow out: another may have moved into the slot */
	EXPIRE_STOP,   /* the ring is full: user space reads it and runs again */
};

static __always_inline enum expired expire_slot(__u32 at)
{
	struct flow *f = flow_slot(at);

	/* A first look without locks passes over most slots. */
	if (!f || f->state != SLOT_USED || (__s64)(f->st.last_ns - EXPIRE_BEFORE) >= 0)
		return EXPIRE_PASS;
	if (!lock_word(&STATE.flow_table_lock))
		return EXPIRE_PASS;
	if (__sync_val_compare_and_swap(&f->lock, 0, 1) != 0) {
		unlock_word(&STATE.flow_table_lock);
		return EXPIRE_PASS; /* a packet is counting into it: not idle */
	}
	if (f->state != SLOT_USED || (__s64)(f->st.last_ns - EXPIRE_BEFORE) >= 0) {
		unlock_word(&f->lock);
		unlock_word(&STATE.flow_table_lock);
		return EXPIRE_PASS;
	}
	struct flow_end *e = bpf_ringbuf_reserve(&flow_ends, sizeof(*e), 0);
	if (!e) {
		unlock_word(&f->lock);
		unlock_word(&STATE.flow_table_lock);
		return EXPIRE_STOP;
	}
	e->key = f->key;
	e->reason = FLOW_END_IDLE;
	e->_pad = 0;
	e->st = f->st;
	remove_flow(at);
	unlock_word(&STATE.flow_table_lock);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	EXPIRED++;
	return EXPIRE_TAKEN;
}

struct sweep {
	__u32 at;
	__u32 end;
};

static long sweep_one(__u64 i, void *data)
{
	struct sweep *w = data;

	if (w->at >= w->end)
		return 1;
	switch (expire_slot(w->at)) {
	case EXPIRE_PASS:
		w->at++;
		return 0;
	case EXPIRE_TAKEN:
		return 0; /* the flow moved into the slot is looked at too */
	default:
		return 1;
	}
}

/* One run looks at the slots from EXPIRE_FROM on, as many as one bpf_loop
 * allows, and leaves in EXPIRE_NEXT where the next run goes on. */
SEC("xdp")
int tacap_expire(struct xdp_md *ctx)
{
	struct sweep w = { .at = EXPIRE_FROM, .end = CONFIG.flow_mask + 1 };

	EXPIRED = 0;
	bpf_loop(1 << 23, sweep_one, &w, 0);
	EXPIRE_NEXT = w.at;
	return XDP_PASS;
}

static long clear_slot(__u64 i, void *data)
{
	struct flow *f = flow_slot(i);

	if (f && f->state != SLOT_EMPTY) {
		f->state = SLOT_EMPTY;
		f->st.id = 0;
	}
	return 0;
}

/* tacap_clear_flows empties the flow table, for tests and benchmarks that
 * reuse one load (Objects.Reset): never run while packets arrive. */
SEC("xdp")
int tacap_clear_flows(struct xdp_md *ctx)
{
	bpf_loop(CONFIG.flow_mask + 1, clear_slot, NULL, 0);
	return XDP_PASS;
}

/*
 * Replay in batches: one BPF_PROG_TEST_RUN carries many frames of a capture
 * file, each behind a replay_meta, so the syscall is paid once per batch
 * instead of once per frame. Every frame goes through the same handle() as
 * live traffic; only where its bytes, time and metadata come from differs.
 */
struct replay_meta {
	__u64 tstamp;
	__u32 wire_len;
	__u32 cap_len;
	__u32 ifindex;
	__u32 gso_segs; /* wire packets the frame stands for (0 or 1: one) */
	__u8 direction;
	__u8 _pad;
	__s16 len_delta; /* the capture file's link header length less ETH_HLEN */
	__u8 _pad2[4];
};

#define MAX_BATCH_FRAMES 256
#define MAX_REPLAY_FRAME 4096

struct batch_cursor {
	struct xdp_md *ctx;
	__u32 at;
	__u32 end;
	__u32 done;
};

/* Frames the last batch replayed, for user space to check it got them all. */
__u32 REPLAY_DONE;

static long replay_one(__u64 index, void *data)
{
	struct batch_cursor *b = data;
	struct replay_meta meta;
	__u32 start;

	if (b->at > 1 << 20 || b->at + sizeof(meta) > b->end)
		return 1;
	if (bpf_xdp_load_bytes(b->ctx, b->at, &meta, sizeof(meta)))
		return 1;
	start = b->at + sizeof(meta);
	if (meta.cap_len < ETH_HLEN || meta.cap_len > MAX_REPLAY_FRAME || start + meta.cap_len > b->end)
		return 1;
	struct pkt p = {
		.ctx = b->ctx,
		.base = start,
		.batch = true,
		.cap_len = meta.cap_len,
		.frame_len = meta.wire_len > meta.cap_len ? meta.wire_len : meta.cap_len,
		.xdp = true,
		.len_delta = meta.len_delta,
	};
	handle(&p, meta.direction, meta.ifindex, 0, meta.gso_segs, meta.tstamp);
	b->at = start + ((meta.cap_len + 7) & ~7U);
	b->done++;
	return 0;
}

SEC("xdp.frags")
int tacap_replay_batch(struct xdp_md *ctx)
{
	struct batch_cursor b = { .ctx = ctx, .end = bpf_xdp_get_buff_len(ctx) };

	if (CONFIG.replay)
		bpf_loop(MAX_BATCH_FRAMES, replay_one, &b, 0);
	REPLAY_DONE = b.done;
	return XDP_PASS;
}
