// SPDX-License-Identifier: MIT
/*
 * net_gso: TCP segmentation offload between the guest and a tap (virtio
 * 1.2 §5.1.6.2, §5.1.6.3; net_int.h). Only a backend with send_gso (the
 * tap) is offered HOST_TSO4/6 and GUEST_TSO4/6.
 *
 * A frame the guest sends with a GSO type is not complete: its TCP
 * checksum is the pseudo-header's partial sum, for the host's kernel to
 * finish in each segment it cuts. The device cannot complete it first, as
 * it does for a plain frame (net_csum_complete), so the kernel writes
 * where csum_start and csum_offset say after the policy has judged the
 * frame. A hostile guest could aim them at the IP destination or a port
 * and change the frame once judged; so a GSO frame passes only when they
 * name exactly its TCP checksum field, and its headers are plain (IPv4
 * without fragments, IPv6 without extension headers, no VLAN tag), so
 * that what the policy read is what every segment carries: segmentation
 * copies the headers and changes lengths, IP IDs, sequence numbers, flags
 * and checksums, never an address or a port.
 */
#include "virtio/net_int.h"

#include <errno.h>
#include <linux/virtio_net.h>

/* The offset of the TCP checksum in its header (RFC 9293 §3.1). */
#define NET_TCP_CSUM_OFF 16

int net_gso_check(const struct net *n, const struct virtio_net_hdr_v1 *h, const uint8_t *f,
                  size_t len, uint64_t feats)
{
	uint8_t type = h->gso_type;
	size_t l4;

	if (!n->be->ops->send_gso || !(feats & (1ull << VIRTIO_NET_F_CSUM)) ||
	    !(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || h->gso_size == 0 || h->hdr_len > len)
		return -EINVAL;
	/* ECN (HOST_ECN) and UDP (HOST_UFO, HOST_USO) are not offered. */
	if (type == VIRTIO_NET_HDR_GSO_TCPV4 && (feats & (1ull << VIRTIO_NET_F_HOST_TSO4))) {
		if (len < 14 + 20 || f[12] != 0x08 || f[13] != 0x00 || f[14] >> 4 != 4 ||
		    (f[14] & 15) < 5 || f[23] != 6 || (f[20] & 0x3f) || f[21] ||
		    (size_t)(f[16] << 8 | f[17]) != len - 14)
			return -EINVAL;
		l4 = 14 + (size_t)(f[14] & 15) * 4;
	} else if (type == VIRTIO_NET_HDR_GSO_TCPV6 && (feats & (1ull << VIRTIO_NET_F_HOST_TSO6))) {
		if (len < 14 + 40 || f[12] != 0x86 || f[13] != 0xdd || f[14] >> 4 != 6 ||
		    f[20] != 6 || (size_t)(f[18] << 8 | f[19]) != len - 54)
			return -EINVAL;
		l4 = 54;
	} else {
		return -EINVAL;
	}
	/* A whole TCP header, data after it, the sum where TCP keeps it. */
	if (len < l4 + 20 || (f[l4 + 12] >> 4) < 5 || len <= l4 + (size_t)(f[l4 + 12] >> 4) * 4 ||
	    h->csum_start != l4 || h->csum_offset != NET_TCP_CSUM_OFF)
		return -EINVAL;
	return 0;
}

bool net_gso_rx_ok(uint8_t gso_type, uint64_t feats)
{
	switch (gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return feats & (1ull << VIRTIO_NET_F_GUEST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return feats & (1ull << VIRTIO_NET_F_GUEST_TSO6);
	default:
		return false; /* ECN, UDP: never offered to the guest */
	}
}
