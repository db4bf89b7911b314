// SPDX-License-Identifier: MIT
/*
 * kvm_smoke: proves that /dev/kvm works where tools/kvm-env runs commands.
 *
 * Creates a VM with one vCPU and 64 KiB of RAM, runs a few real-mode
 * instructions that copy a string from guest memory to an I/O port one byte
 * at a time and then compute a digit, and checks every PIO exit: direction,
 * port, size, count and the bytes. Built static so that it runs in any
 * environment, L1 of the KVM test environment included.
 *
 * Exit status: 0 when all checks pass, 1 otherwise (the reason on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define SMOKE_MEM_SIZE  0x10000u
#define SMOKE_CODE_GPA  0x1000u
#define SMOKE_PORT      0x10u
#define SMOKE_MAX_EXITS 64

/*
 * 16-bit real-mode guest, loaded at 0000:1000:
 *   mov dx, 0x10        BA 10 00
 *   mov si, msg         BE 17 10
 * next:
 *   lodsb               AC
 *   test al, al         84 C0
 *   jz done             74 03
 *   out dx, al          EE
 *   jmp next            EB F8
 * done:
 *   mov al, 2           B0 02
 *   add al, 0x30        04 30       ; 2 + '0' + 3 = '5'
 *   add al, 3           04 03
 *   out dx, al          EE
 *   hlt                 F4
 * msg: "kvmbox\n", 0
 */
static const uint8_t smoke_code[] = {
	0xba, 0x10, 0x00, 0xbe, 0x17, 0x10, 0xac, 0x84, 0xc0, 0x74, 0x03,
	0xee, 0xeb, 0xf8, 0xb0, 0x02, 0x04, 0x30, 0x04, 0x03, 0xee, 0xf4,
	0x00, 'k',  'v',  'm',  'b',  'o',  'x',  '\n', 0x00,
};

static const char smoke_expect[] = "kvmbox\n5";

static int smoke_fail(const char *what)
{
	fprintf(stderr, "kvm_smoke: %s: %s\n", what, errno ? strerror(errno) : "unexpected");
	return 1;
}

/* smoke_setup_vcpu: real mode, CS:IP = 0000:1000, flags with only bit 1. */
static int smoke_setup_vcpu(int vcpu)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds = sregs.es = sregs.ss = sregs.cs;
	sregs.ds.type = sregs.es.type = sregs.ss.type = 3; /* data, read/write */
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rip = SMOKE_CODE_GPA;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

/* smoke_run: run to HLT, collecting PIO bytes into out; return their count. */
static int smoke_run(int vcpu, struct kvm_run *run, char *out, size_t cap)
{
	size_t n = 0;

	for (int exits = 0; exits < SMOKE_MAX_EXITS; exits++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return -errno;
		switch (run->exit_reason) {
		case KVM_EXIT_HLT:
			return (int)n;
		case KVM_EXIT_IO:
			if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != SMOKE_PORT ||
			    run->io.size != 1 || run->io.count != 1) {
				fprintf(
				    stderr,
				    "kvm_smoke: odd PIO exit: dir %u port %#x size %u count %u\n",
				    run->io.direction, run->io.port, run->io.size, run->io.count);
				return -EPROTO;
			}
			if (n + 1 >= cap)
				return -EOVERFLOW;
			out[n++] = *((char *)run + run->io.data_offset);
			break;
		default:
			fprintf(stderr, "kvm_smoke: unexpected exit reason %u\n", run->exit_reason);
			return -EPROTO;
		}
	}
	return -ELOOP;
}

int main(void)
{
	struct kvm_userspace_memory_region region;
	char out[64] = { 0 };
	struct kvm_run *run;
	int kvm, vm, vcpu, mmap_size, n;
	uint8_t *mem;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return smoke_fail("open /dev/kvm");
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return smoke_fail("KVM API version is not 12");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return smoke_fail("KVM_CREATE_VM");
	mem =
	    mmap(NULL, SMOKE_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return smoke_fail("mmap guest memory");
	memcpy(mem + SMOKE_CODE_GPA, smoke_code, sizeof(smoke_code));
	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = SMOKE_MEM_SIZE,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return smoke_fail("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return smoke_fail("KVM_CREATE_VCPU");
	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(*run))
		return smoke_fail("KVM_GET_VCPU_MMAP_SIZE");
	run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return smoke_fail("mmap kvm_run");
	errno = -smoke_setup_vcpu(vcpu);
	if (errno)
		return smoke_fail("set up the vCPU");
	n = smoke_run(vcpu, run, out, sizeof(out));
	if (n < 0) {
		errno = -n;
		return smoke_fail("KVM_RUN");
	}
	errno = 0;
	if ((size_t)n != strlen(smoke_expect) || memcmp(out, smoke_expect, (size_t)n) != 0) {
		fprintf(stderr, "kvm_smoke: guest wrote %d bytes \"%.*s\", expected \"%s\"\n", n, n,
		        out, smoke_expect);
		return 1;
	}
	printf("kvm_smoke: guest wrote \"kvmbox\\n5\" in %d PIO exits, then HLT\n", n);
	return 0;
}
