// SPDX-License-Identifier: MIT
/*
 * fuzz_boot_image: arbitrary bytes as the kernel image file a user names.
 * boot_image_load must refuse or load them without reading outside the
 * input or writing outside guest RAM; what it accepts goes on through
 * boot_params_setup, with the same bytes as the initrd.
 */
#include "vmm/boot/boot.h"

#include <stdlib.h>

#define FUZZ_RAM_SIZE (32u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t *ram; /* allocated once: 32 MiB per input would dominate */
	struct boot_params_info info;
	struct boot_image bi;
	struct gmem m;
	int err;

	if (!ram)
		ram = calloc(1, FUZZ_RAM_SIZE);
	if (!ram || gmem_init_buffer(&m, ram, FUZZ_RAM_SIZE) != 0)
		abort();
	if (boot_image_load(&m, data, size, &bi) != 0)
		return 0;
	if (bi.entry < bi.kernel_start || bi.entry >= bi.kernel_end ||
	    bi.kernel_end > FUZZ_RAM_SIZE || bi.setup_hdr_len > sizeof(bi.setup_hdr))
		abort();
	err = boot_params_setup(&m, &bi, "console=ttyS0 reboot=k", data, size, &info);
	if (err == 0 && info.initrd_size &&
	    (info.initrd_gpa < bi.kernel_end || info.initrd_gpa + size > FUZZ_RAM_SIZE))
		abort();
	return 0;
}
