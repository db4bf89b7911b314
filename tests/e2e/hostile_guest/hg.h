/* SPDX-License-Identifier: MIT */
/*
 * hg: the hostile guest's shared header. The hostile guest is a
 * freestanding 64-bit program that kvmbox boots like an ELF vmlinux (no
 * Linux): it finds the virtio-mmio devices on the command line of the zero
 * page and drives each of them with broken rings, lying lengths and badly
 * timed resets, in a loop, until the host stops the VM
 * (tests/e2e/hostile.sh, docs/robustness.md).
 *
 * It runs as kvmbox enters a vmlinux (vmm/boot/boot_cpu.c): long mode,
 * the first 4 GiB identity mapped with 2 MiB pages (so RAM and the MMIO
 * gap are both reachable at GPA = GVA), interrupts off and an IDT of limit
 * 0. Interrupts stay off: the devices' interrupts are raised and never
 * taken nor acknowledged, which is one of the attacks. Any fault of ours
 * is a triple fault, so the code touches nothing but its own image, the
 * zero page, the command line and the device windows.
 *
 * Waits spin (PAUSE) rather than sleep in HLT on a timer interrupt: a
 * version that did was seen, in the emulated test host, to stall for
 * good in HLT once and to triple-fault once, the two faults of that host
 * with interrupts in nested guests that tests/e2e/lib.sh describes; a
 * guest that takes no interrupt cannot meet them.
 */
#ifndef KVMBOX_TESTS_HOSTILE_GUEST_HG_H
#define KVMBOX_TESTS_HOSTILE_GUEST_HG_H

#include <stddef.h>
#include <stdint.h>

#define HG_MAX_DEVS   8
#define HG_MAX_QUEUES 3
#define HG_QSIZE      256 /* entries per queue; every device offers at least this */
#define HG_BUF_SIZE   4096
#define HG_NR_BUFS    64 /* data buffers of one device */

/* virtio 1.2 §4.2.2: the virtio-mmio registers. */
#define VM_MAGIC         0x000
#define VM_DEVICE_ID     0x008
#define VM_DEV_FEAT      0x010
#define VM_DEV_FEAT_SEL  0x014
#define VM_DRV_FEAT      0x020
#define VM_DRV_FEAT_SEL  0x024
#define VM_QUEUE_SEL     0x030
#define VM_QUEUE_NUM_MAX 0x034
#define VM_QUEUE_NUM     0x038
#define VM_QUEUE_READY   0x044
#define VM_QUEUE_NOTIFY  0x050
#define VM_INT_STATUS    0x060
#define VM_INT_ACK       0x064
#define VM_STATUS        0x070
#define VM_DESC_LOW      0x080
#define VM_DESC_HIGH     0x084
#define VM_AVAIL_LOW     0x090
#define VM_AVAIL_HIGH    0x094
#define VM_USED_LOW      0x0a0
#define VM_USED_HIGH     0x0a4
#define VM_CONFIG        0x100

/* §2.1: device status bits. */
#define ST_ACK         1u
#define ST_DRIVER      2u
#define ST_DRIVER_OK   4u
#define ST_FEATURES_OK 8u
#define ST_NEEDS_RESET 0x40u

/* §2.7.5: descriptor flags. */
#define D_NEXT     1u
#define D_WRITE    2u
#define D_INDIRECT 4u

/* §5: device IDs. */
#define DEV_NET   1u
#define DEV_BLK   2u
#define DEV_VSOCK 19u
#define DEV_FS    26u

/* §2.7.5 and §2.7.6, §2.7.8: the split ring as the driver sees it. */
struct hg_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct hg_queue {
	struct hg_desc *desc;
	volatile uint16_t *avail; /* flags, idx, ring[HG_QSIZE], used_event */
	volatile uint16_t *used;  /* flags, idx, then 8-byte elements */
	uint16_t size;
	uint16_t avail_idx; /* what we last published */
};

struct hg_dev {
	uint64_t base; /* GPA of the register window */
	uint32_t id;   /* device ID, §5 */
	uint32_t nq;   /* queues we drive */
	uint64_t features;
	struct hg_queue q[HG_MAX_QUEUES];
	uint8_t *buf; /* HG_NR_BUFS buffers of HG_BUF_SIZE in our RAM */
	const char *name;
};

/* The RAM kvmbox gave us: the end of the highest e820 RAM range below 4 GiB. */
extern uint64_t hg_ram_end;

/* hg_io.c: port I/O, the serial line, MMIO and a clock. */
void hg_outb(uint16_t port, uint8_t v);
void hg_puts(const char *s);
void hg_putu(uint64_t v);
void hg_putx(uint64_t v);
void hg_line(const struct hg_dev *d, const char *attack, const char *what);
uint32_t hg_rd32(const struct hg_dev *d, uint32_t off);
void hg_wr32(const struct hg_dev *d, uint32_t off, uint32_t v);
void hg_wr8(const struct hg_dev *d, uint32_t off, uint8_t v);
void hg_wr16(const struct hg_dev *d, uint32_t off, uint16_t v);
void hg_wr64(const struct hg_dev *d, uint32_t off, uint64_t v);
uint64_t hg_rdtsc(void);
void hg_spin(uint64_t ticks);
/* What gcc may call even in a freestanding program. */
void *memset(void *p, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/* hg_virtio.c: a driver that does what it is told, right or wrong. */
void hg_dev_attach(struct hg_dev *d, unsigned int slot);
int hg_dev_setup(struct hg_dev *d);
void hg_dev_reset(struct hg_dev *d);
uint8_t *hg_buf(const struct hg_dev *d, unsigned int i);
void hg_post(struct hg_dev *d, unsigned int qi, uint16_t head);
void hg_publish(struct hg_dev *d, unsigned int qi, uint16_t idx);
void hg_notify(const struct hg_dev *d, unsigned int qi);
int hg_wait_used(const struct hg_dev *d, unsigned int qi, uint16_t want);
int hg_wait_answer(const struct hg_dev *d, unsigned int qi, uint16_t want);
uint16_t hg_used_idx(const struct hg_dev *d, unsigned int qi);
void hg_set_desc(struct hg_dev *d, unsigned int qi, uint16_t i, uint64_t addr, uint32_t len,
                 uint16_t flags, uint16_t next);

/* hg_ring.c: the attacks every device gets, on its request queue qi. */
void hg_ring_attacks(struct hg_dev *d, unsigned int qi);

/* hg_blk_net.c, hg_vsock_fs.c: each device's own attacks. */
void hg_blk_attacks(struct hg_dev *d);
void hg_net_attacks(struct hg_dev *d);
void hg_vsock_attacks(struct hg_dev *d);
void hg_fs_attacks(struct hg_dev *d);

#endif
