/* SPDX-License-Identifier: MIT */
/*
 * rig: what the unit tests and fuzz targets of guest-facing code set up
 * again and again, in one place (tests/unit/rig.c, linked into each).
 *
 *  - test_ram: fake guest RAM, a zeroed page-aligned buffer behind the one
 *    door (gmem_init_buffer), for the boot loaders and the devices.
 *  - test_rig: what a virtio device needs around it with no KVM: that RAM,
 *    a port/MMIO bus to register the transport on, the main thread's event
 *    loop, and an interrupt line that only counts. The simulated guest
 *    driver (virtio_driver.h) then drives the device through the bus.
 *
 * Every function aborts when the host cannot give what it asks for: the
 * environment, not the code under test, is broken then.
 */
#ifndef KVMBOX_TESTS_RIG_H
#define KVMBOX_TESTS_RIG_H

#include "virtio/mmio.h"
#include "vmm/bus.h"
#include "vmm/gmem.h"
#include "vmm/loop.h"

#include <stddef.h>
#include <stdint.h>

struct test_ram {
	uint8_t *buf;
	size_t size;
	struct gmem m;
};

/* test_ram_init: size bytes of zeroed RAM at GPA 0. */
void test_ram_init(struct test_ram *r, size_t size);
void test_ram_fini(struct test_ram *r);

struct test_rig {
	uint8_t *ram; /* guest RAM at GPA 0 */
	size_t ram_size;
	struct gmem m;
	struct bus bus;
	struct loop loop;
	int irqs; /* interrupts the device raised */
};

/* test_rig_init: ram_size bytes of zeroed RAM, an empty bus, a loop of loop_entries. */
void test_rig_init(struct test_rig *t, size_t ram_size, unsigned int loop_entries);

/* test_rig_fini: the loop and the RAM; the device goes first. */
void test_rig_fini(struct test_rig *t);

/* test_rig_params: a device window at base whose interrupts count in t->irqs. */
struct virtio_mmio_params test_rig_params(struct test_rig *t, uint64_t base);

/*
 * test_rig_pump: run the loop `rounds` times without blocking (each round
 * submits a no-op, so there is always a completion to wake up for).
 */
void test_rig_pump(struct test_rig *t, int rounds);

/*
 * test_fds_under: how many of this process's descriptors name something
 * whose path starts with prefix (a share's folder): a server that leaks
 * descriptors shows here, while the test's own come and go uncounted.
 */
int test_fds_under(const char *prefix);

/*
 * test_pages_new: len bytes of fresh zero pages, none of them touched, as
 * calloc gives a large block (a VMM's device structs); test_pages_free
 * unmaps them. test_resident_pages: how many of the whole pages within
 * [p, p + len) are in memory (mincore): a page that init never touched
 * is not.
 */
void *test_pages_new(size_t len);
void test_pages_free(void *p, size_t len);
unsigned int test_resident_pages(const void *p, size_t len);

#endif
