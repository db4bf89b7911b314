/* SPDX-License-Identifier: MIT */
/*
 * oci_int: the parts of oci/ that oci.h's functions are made of; private to
 * the folder, its unit tests and fuzz targets.
 *
 * Files:
 *   ref.c            references (oci.h)
 *   digest.c         SHA-256 (libcrypto) and digest strings
 *   manifest.c       index, manifest and config JSON (jansson)
 *   layer.c          a layer's tar stream applied to a folder (libarchive;
 *                    with layer_entry.c, layer_name.c, layer_fs.c: layer_int.h)
 *   source_registry.c  Distribution API v2 over libcurl, auth
 *   source_layout.c  an OCI image layout folder
 *   source_archive.c a `docker save` archive
 *   store.c, pull.c  the content-addressed store, and pull
 */
#ifndef KVMBOX_OCI_OCI_INT_H
#define KVMBOX_OCI_OCI_INT_H

#include "oci/oci.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* oci_err: a printf into err (when err and errcap), returning rc (an -errno). */
int oci_err(char *err, size_t errcap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- digest.c ---------------------------------------------------------- */

/*
 * oci_digest_valid: whether s is "sha256:" and 64 lower-case hex digits
 * (image-spec descriptor.md; other algorithms are refused: -ENOTSUP from
 * the callers that meet one).
 */
bool oci_digest_valid(const char *s);

struct oci_sha256; /* an EVP_MD_CTX */
int oci_sha256_new(struct oci_sha256 **out);
int oci_sha256_update(struct oci_sha256 *h, const void *p, size_t n);
/* oci_sha256_final: "sha256:<hex>" into out; h may be reused after. */
int oci_sha256_final(struct oci_sha256 *h, char out[OCI_DIGEST_MAX]);
void oci_sha256_free(struct oci_sha256 *h);
/* oci_sha256_buf, oci_sha256_fd: the digest of bytes, of a file from offset 0. */
int oci_sha256_buf(const void *p, size_t n, char out[OCI_DIGEST_MAX]);
int oci_sha256_fd(int fd, char out[OCI_DIGEST_MAX], uint64_t *size);

/* oci_write_all: n bytes of buf to fd at its offset, through short writes and
 * EINTR; 0 or -errno (io.c). */
int oci_write_all(int fd, const void *buf, size_t n);

/* ---- manifest.c -------------------------------------------------------- */

/* The media types we act on (image-spec media-types.md, and Docker's). */
enum oci_media {
	OCI_MEDIA_UNKNOWN = 0,
	OCI_MEDIA_INDEX,    /* OCI index, Docker manifest list */
	OCI_MEDIA_MANIFEST, /* OCI manifest, Docker schema 2 manifest */
	OCI_MEDIA_CONFIG,   /* OCI config, Docker container image config */
	OCI_MEDIA_LAYER_TAR,
	OCI_MEDIA_LAYER_GZIP, /* OCI tar+gzip, Docker rootfs.diff.tar.gzip */
	OCI_MEDIA_LAYER_ZSTD,
	OCI_MEDIA_LAYER_FOREIGN, /* non-distributable: refused */
};
enum oci_media oci_media_kind(const char *media_type);

/* The Accept header value a registry needs to give any of the manifest kinds. */
extern const char oci_manifest_accept[];

struct oci_descriptor {
	char media_type[128];
	char digest[OCI_DIGEST_MAX];
	uint64_t size;
};

/*
 * oci_index_select: in an index or manifest list (json, len), the manifest
 * for os/arch (and variant, NULL for any), e.g. "linux"/"amd64". -ENOENT
 * (err lists the platforms there are) when none matches.
 */
int oci_index_select(const char *json, size_t len, const char *os, const char *arch,
                     const char *variant, struct oci_descriptor *out, char *err, size_t errcap);

/* oci_doc_kind: the kind of a manifest-or-index document: its mediaType
 * field, else header_type (a registry's Content-Type, may be NULL), else a
 * guess from its fields ("manifests" -> index, "layers" -> manifest). */
enum oci_media oci_doc_kind(const char *json, size_t len, const char *header_type);

struct oci_manifest {
	struct oci_descriptor config;
	size_t nr_layers;
	struct oci_descriptor *layers; /* bottom first */
};

/*
 * oci_manifest_parse: an image manifest. Every descriptor is checked:
 * a valid digest, a known media type (config, layer kinds), a size that
 * fits in int64. At most OCI_MAX_LAYERS layers.
 */
#define OCI_MAX_LAYERS 256
int oci_manifest_parse(const char *json, size_t len, struct oci_manifest *m, char *err,
                       size_t errcap);
void oci_manifest_free(struct oci_manifest *m);

struct oci_config {
	char **entrypoint, **cmd, **env; /* NULL-terminated, or NULL */
	char *workdir, *user;
	char *os, *arch;
	int64_t created;
	size_t nr_diff_ids;
	char **diff_ids; /* rootfs.diff_ids: digests of the uncompressed layers */
};
int oci_config_parse(const char *json, size_t len, struct oci_config *c, char *err, size_t errcap);
void oci_config_free(struct oci_config *c);

/* ---- layer.c ----------------------------------------------------------- */

/*
 * How a layer is kept on the host (docs/images.md), so that the same store
 * works whether or not the VMM is root, and no host user ever gains from
 * it (no setuid file, no device node, nothing owned by another user):
 *  - files, folders and symlinks are the store owner's; the entry's own
 *    uid, gid, mode and type go in the xattr user.containers.override_stat
 *    ("uid:gid:mode[:type]", virtio/fuse_owner.c reads it), except on
 *    symlinks, which cannot carry user xattrs (they show as root's, 0777);
 *  - device nodes, FIFOs and sockets are empty regular files whose xattr
 *    gives the type (char-MAJ-MIN, block-..., pipe, socket); devices only
 *    when the unpacking process is root, else skipped and counted;
 *  - a whiteout (.wh.NAME) is an empty file NAME with type char-0-0, what
 *    overlayfs calls a whiteout; an opaque marker (.wh..wh..opq) sets the
 *    xattr user.overlay.opaque="y" on its folder (the FUSE server shows it
 *    to the guest as trusted.overlay.opaque);
 *  - mtimes are kept; the entry's own user.* xattrs are kept, others are
 *    skipped and counted.
 */
#define OCI_OVERRIDE_XATTR "user.containers.override_stat"
#define OCI_OPAQUE_XATTR   "user.overlay.opaque"

struct oci_layer_limits {
	uint64_t max_bytes;   /* uncompressed bytes of file data; 0: 64 GiB */
	uint64_t max_entries; /* 0: 1,000,000 */
};

struct oci_layer_stats {
	uint64_t entries, bytes;
	uint64_t whiteouts, opaques, hardlinks;
	uint64_t skipped_devices, skipped_xattrs;
};

/*
 * oci_layer_apply: the tar stream in fd, read from its start (a pipe:
 * from where it is; plain, gzip or zstd: detected from the bytes, which
 * must agree with media, when media is not OCI_MEDIA_UNKNOWN; FOREIGN:
 * -ENOTSUP) unpacked into the empty folder dirfd. No entry lands outside
 * it: names are resolved beneath dirfd (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), so "..", absolute names, a
 * symlink parent made by an earlier entry, and hard links to outside are
 * refused (-EPERM, naming the entry), as are whiteouts of "." or "..". A
 * whiteout of a name the layer itself has leaves it (layer.md: whiteouts
 * apply to lower layers only). Past a limit: -EFBIG (max_entries counts
 * the folders made for entries that left theirs out, too). A corrupt
 * stream: -EINVAL. lim and st may be NULL. On failure the folder holds
 * part of the layer: the caller removes it.
 */
int oci_layer_apply(int fd, enum oci_media media, int dirfd, const struct oci_layer_limits *lim,
                    struct oci_layer_stats *st, char *err, size_t errcap);

/* oci_rm_tree: remove dirfd's entry name and everything beneath (no symlink followed). */
int oci_rm_tree(int dirfd, const char *name);

/* ---- sources ----------------------------------------------------------- */

struct oci_progress {
	/* done of total bytes of blob digest so far; final at done == total. */
	void (*fn)(void *arg, const char *digest, uint64_t done, uint64_t total);
	void *arg;
};

struct oci_source;
struct oci_source_ops {
	/*
	 * manifest: the document reference (a tag or a digest) names: the
	 * bytes as served (a digest check needs them unchanged), malloc'd,
	 * at most OCI_MAX_MANIFEST bytes, and the type the source gave for
	 * them (Content-Type; "" when none).
	 */
	int (*manifest)(struct oci_source *src, const char *reference, char **buf, size_t *len,
	                char media_type[128], char *err, size_t errcap);
	/*
	 * blob: the blob d names, written to fd from its current offset. At
	 * most d->size bytes are taken (more is -EFBIG); the caller checks
	 * the size and the digest after.
	 */
	int (*blob)(struct oci_source *src, const struct oci_descriptor *d, int fd,
	            const struct oci_progress *p, char *err, size_t errcap);
	void (*close)(struct oci_source *src);
};
#define OCI_MAX_MANIFEST (4u << 20)

struct oci_source {
	const struct oci_source_ops *ops;
	/* The tag or digest to ask manifest() for first. */
	char reference[OCI_DIGEST_MAX + 128];
};

/* source_registry.c: ref->kind == OCI_REF_REGISTRY. */
int oci_registry_open(const struct oci_ref *ref, const struct oci_pull_opts *o,
                      struct oci_source **out, char *err, size_t errcap);
/* source_layout.c: OCI_REF_LAYOUT (index.json's manifest with the
 * annotation org.opencontainers.image.ref.name == tag, or the only one). */
int oci_layout_open(const struct oci_ref *ref, struct oci_source **out, char *err, size_t errcap);
/* source_archive.c: OCI_REF_ARCHIVE (manifest.json of `docker save`, or an
 * OCI layout inside the tar, as newer docker writes). */
int oci_archive_open(const struct oci_ref *ref, struct oci_source **out, char *err, size_t errcap);

/* ---- store.c ----------------------------------------------------------- */

/*
 * The store's layout (docs/images.md), under its root folder:
 *   blobs/sha256/HEX    every blob, verified (manifests, configs, layers)
 *   layers/sha256/HEX   a layer unpacked (HEX: its blob's digest)
 *   refs/HEX            {"name", "manifest"} (HEX: the name's SHA-256)
 *   tmp/                what is being written; renamed into place when whole
 *   empty/              an image share's root (oci.h)
 *   lock                flock: shared by pulls and running sandboxes,
 *                       exclusive for collecting what no image uses
 */
struct oci_store {
	int dirfd; /* the root, O_PATH */
	char *path;
	int lockfd;
	bool held; /* oci_store_hold */
};

/* oci_store_rel: "blobs/sha256/HEX" or "layers/sha256/HEX" for digest. */
int oci_store_rel(const char *kind, const char *digest, char *buf, size_t cap);
/* oci_store_tmp: a fresh name under tmp/ ("tmp/PREFIX-PID-N"). */
int oci_store_tmp(struct oci_store *st, const char *prefix, char *buf, size_t cap);
/* oci_store_read_blob: a blob of at most max bytes into memory (malloc'd, NUL-ended). */
int oci_store_read_blob(struct oci_store *st, const char *digest, size_t max, char **buf,
                        size_t *len, char *err, size_t errcap);
/* oci_store_put_ref: name -> manifest digest, atomically. */
int oci_store_put_ref(struct oci_store *st, const char *name, const char *manifest, char *err,
                      size_t errcap);

/* ---- source_registry_parse.c: the registry source's pure parts ---------- */

/*
 * oci_registry_plain_http: whether host[:port] (a reference's registry, or
 * a URL's host[:port]) may be reached over plain HTTP: a loopback host
 * (localhost, 127.0.0.0/8, [::1]) or one insecure names ("host:port" for
 * that port, "host" for any port). Everything else is HTTPS only.
 */
bool oci_registry_plain_http(const char *hostport, const char *const *insecure);

/* oci_registry_base_url: "https://HOST/v2/" (registry-1.docker.io for
 * "docker.io"; "http://" where oci_registry_plain_http). -EINVAL for a
 * malformed registry, -ENAMETOOLONG if cap is too small. */
int oci_registry_base_url(const char *registry, const char *const *insecure, char *buf, size_t cap);

/* oci_registry_url_ok: 0 if url is https, or http to a host that
 * oci_registry_plain_http allows; -EPERM for http elsewhere, -EINVAL for
 * anything else (another scheme, no host, not a URL). */
int oci_registry_url_ok(const char *url, const char *const *insecure);

/* oci_registry_repo_ok: a repository name as distribution's grammar has
 * it (components of [a-z0-9] joined by [._-], '/'-separated): none is "."
 * or "..", nothing changes a URL's path. */
bool oci_registry_repo_ok(const char *repo);
/* oci_registry_reference_ok: a tag or "ALG:HEX", safe in a URL's path. */
bool oci_registry_reference_ok(const char *reference);

/* A WWW-Authenticate challenge (RFC 9110 11.6.1; distribution's token auth). */
enum oci_auth_scheme {
	OCI_AUTH_NONE = 0, /* none we know: only Basic and Bearer are */
	OCI_AUTH_BASIC,
	OCI_AUTH_BEARER,
};
struct oci_challenge {
	enum oci_auth_scheme scheme;
	char realm[1024]; /* Bearer: the token service's URL */
	char service[256];
	char scope[512];
};

/*
 * oci_challenge_parse: the WWW-Authenticate value(s) hdr (several
 * challenges, comma-separated; quoted values may hold commas and \-escapes).
 * Bearer is taken over Basic where both are offered; unknown schemes are
 * skipped. -EINVAL for a malformed header, a Bearer without a realm or a
 * value with a control character; -ENAMETOOLONG for a value over its field.
 */
int oci_challenge_parse(const char *hdr, struct oci_challenge *c);

/* oci_token_url: the token service's URL for pulling repo, malloc'd:
 * REALM?service=SERVICE&scope=repository:REPO:pull (escaped; '&' if the
 * realm has a query already). Our own scope, not the challenge's: we only
 * pull. NULL when out of memory. */
char *oci_token_url(const struct oci_challenge *ch, const char *repo);

/* A registry credential (never logged, wiped when dropped). */
struct oci_cred {
	char user[256];
	char pass[8192]; /* cloud registries' passwords are tokens of some KB */
};

/*
 * oci_cred_lookup: registry's credential in a docker config.json (json,
 * len): "auths": {KEY: {"auth": base64("user:pass")}} (or "username" and
 * "password"), where KEY is registry, or a URL whose host is registry
 * ("https://index.docker.io/v1/" and friends for docker.io); an exact key
 * wins over a URL. Credential helpers (credsStore, credHelpers) are not
 * asked: an entry that is empty because a helper keeps it is no credential.
 * 0 and *c filled; -ENOENT if none; -EINVAL (err says where, never what)
 * for a malformed file or entry.
 */
int oci_cred_lookup(const char *json, size_t len, const char *registry, struct oci_cred *c,
                    char *err, size_t errcap);

/*
 * oci_cred_load: oci_cred_lookup in path, or with path NULL in
 * $DOCKER_CONFIG/config.json, else ~/.docker/config.json (a default file
 * that does not exist has no credential). 0 with *found telling whether
 * *c was filled; -errno (err says why) when the file cannot be read or
 * parsed, or a named one does not exist.
 */
int oci_cred_load(const char *path, const char *registry, struct oci_cred *c, bool *found,
                  char *err, size_t errcap);

/* oci_token_parse: a token service's answer {"token"|"access_token": T}:
 * T malloc'd in *token. -EINVAL when absent, empty, over 64 KiB or not
 * printable ASCII without spaces (it goes into a header). */
int oci_token_parse(const char *json, size_t len, char **token);

/* oci_registry_error: "CODE: message" of the first entry of a registry's
 * error body {"errors": [{"code", "message"}]} (distribution spec), made
 * printable, into out; "" when the body is not one. */
void oci_registry_error(const char *body, size_t len, char *out, size_t cap);

#endif
