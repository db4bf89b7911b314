// SPDX-License-Identifier: MIT
/*
 * oci/digest: SHA-256 through libcrypto's EVP interface, and the digest
 * strings of image-spec descriptor.md ("sha256:" and 64 lower-case hex
 * digits; the spec's registered algorithm we need; sha512 and others are
 * refused by the callers that meet them).
 *
 * libcrypto is opened with dlopen when the first digest is taken, as
 * libcurl is (curl_dl.c): linked, its load and relocation cost every
 * kvmbox process about 2.5 M instructions before main, images or not
 * (docs/benchmarks.md). The table is filled once (pthread_once) and never
 * changed after: a process-wide constant, not state.
 */
#define _GNU_SOURCE
#include "oci/oci_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The chunk oci_sha256_fd reads at a time. */
#define SHA256_CHUNK (1u << 20)

/* The EVP calls this file makes, from libcrypto.so.3 (OpenSSL 3's ABI). */
struct digest_evp {
	EVP_MD_CTX *(*ctx_new)(void);
	void (*ctx_free)(EVP_MD_CTX *ctx);
	const EVP_MD *(*sha256)(void);
	int (*init)(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl);
	int (*update)(EVP_MD_CTX *ctx, const void *d, size_t cnt);
	int (*final)(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *s);
	bool ok;
};

static pthread_once_t digest_evp_once = PTHREAD_ONCE_INIT;
static struct digest_evp digest_evp; /* written once, under digest_evp_once */

static void digest_evp_open(void)
{
	struct digest_evp *e = &digest_evp;
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		fprintf(stderr,
		        "kvmbox: image digests need libcrypto (libcrypto.so.3: apt install "
		        "libssl3): %s\n",
		        dlerror());
		return;
	}
	*(void **)&e->ctx_new = dlsym(h, "EVP_MD_CTX_new");
	*(void **)&e->ctx_free = dlsym(h, "EVP_MD_CTX_free");
	*(void **)&e->sha256 = dlsym(h, "EVP_sha256");
	*(void **)&e->init = dlsym(h, "EVP_DigestInit_ex");
	*(void **)&e->update = dlsym(h, "EVP_DigestUpdate");
	*(void **)&e->final = dlsym(h, "EVP_DigestFinal_ex");
	e->ok = e->ctx_new && e->ctx_free && e->sha256 && e->init && e->update && e->final;
	if (!e->ok)
		fprintf(stderr, "kvmbox: libcrypto.so.3 lacks the EVP digest functions\n");
}

/* digest_evp_get: the table, or NULL (said once on stderr) without libcrypto. */
static const struct digest_evp *digest_evp_get(void)
{
	pthread_once(&digest_evp_once, digest_evp_open);
	return digest_evp.ok ? &digest_evp : NULL;
}

struct oci_sha256 {
	const struct digest_evp *evp;
	EVP_MD_CTX *ctx;
};

bool oci_digest_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0)
		return false;
	s += 7;
	for (int i = 0; i < 64; i++) {
		/* Upper case is not the canonical encoding (descriptor.md:
		 * "the encoded portion MUST match /[a-f0-9]{64}/"). */
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[64] == '\0';
}

int oci_sha256_new(struct oci_sha256 **out)
{
	const struct digest_evp *evp = digest_evp_get();
	struct oci_sha256 *h;

	if (!evp)
		return -ENOSYS;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->evp = evp;
	h->ctx = evp->ctx_new();
	if (!h->ctx || evp->init(h->ctx, evp->sha256(), NULL) != 1) {
		oci_sha256_free(h);
		return -ENOMEM;
	}
	*out = h;
	return 0;
}

int oci_sha256_update(struct oci_sha256 *h, const void *p, size_t n)
{
	if (n && h->evp->update(h->ctx, p, n) != 1)
		return -EIO;
	return 0;
}

int oci_sha256_final(struct oci_sha256 *h, char out[OCI_DIGEST_MAX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (h->evp->final(h->ctx, md, &n) != 1 || n != 32)
		return -EIO;
	memcpy(out, "sha256:", 7);
	for (unsigned int i = 0; i < n; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[7 + 64] = '\0';
	/* Ready for the next digest, as the header promises. */
	if (h->evp->init(h->ctx, h->evp->sha256(), NULL) != 1)
		return -EIO;
	return 0;
}

void oci_sha256_free(struct oci_sha256 *h)
{
	if (!h)
		return;
	if (h->ctx)
		h->evp->ctx_free(h->ctx);
	free(h);
}

int oci_sha256_buf(const void *p, size_t n, char out[OCI_DIGEST_MAX])
{
	struct oci_sha256 *h;
	int rc = oci_sha256_new(&h);

	if (rc)
		return rc;
	rc = oci_sha256_update(h, p, n);
	if (!rc)
		rc = oci_sha256_final(h, out);
	oci_sha256_free(h);
	return rc;
}

/*
 * oci_sha256_fd: the digest of fd's whole content, read with pread from
 * offset 0 (the file offset is left alone, so a caller may hash what it
 * just wrote). *size (when not NULL) gets the number of bytes hashed.
 */
int oci_sha256_fd(int fd, char out[OCI_DIGEST_MAX], uint64_t *size)
{
	struct oci_sha256 *h = NULL;
	uint64_t off = 0;
	char *buf;
	int rc;

	buf = malloc(SHA256_CHUNK);
	if (!buf)
		return -ENOMEM;
	rc = oci_sha256_new(&h);
	while (!rc) {
		ssize_t n = pread(fd, buf, SHA256_CHUNK, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0) {
			rc = oci_sha256_final(h, out);
			break;
		}
		rc = oci_sha256_update(h, buf, (size_t)n);
		off += (uint64_t)n;
	}
	if (!rc && size)
		*size = off;
	oci_sha256_free(h);
	free(buf);
	return rc;
}
