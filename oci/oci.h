/* SPDX-License-Identifier: MIT */
/*
 * oci: OCI and Docker images -> layers in a content-addressed store, ready
 * to be a sandbox's root (docs/images.md). The public face, for the CLI:
 * references as users type them, the store, and pull.
 *
 * References (oci_ref_parse):
 *   name[:tag][@sha256:HEX]                 Docker Hub ("busybox" is
 *                                           docker.io/library/busybox:latest)
 *   registry[:port]/path/name[:tag][@...]   any Distribution registry; the
 *                                           first component is a registry
 *                                           when it has a '.' or ':' or is
 *                                           "localhost"
 *   oci:DIR[:tag]                           an OCI image layout folder
 *   docker-archive:FILE                     what `docker save` writes
 *
 * Every function returns 0 or -errno. Where an err buffer is taken, a
 * failure also leaves one line there (no trailing newline) that says what
 * went wrong in the user's terms ("blob sha256:... : digest mismatch").
 */
#ifndef KVMBOX_OCI_OCI_H
#define KVMBOX_OCI_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OCI_ERR_MAX    512
#define OCI_DIGEST_MAX 72 /* "sha256:" + 64 hex + NUL, rounded */

enum oci_ref_kind {
	OCI_REF_REGISTRY = 0,
	OCI_REF_LAYOUT,  /* oci:DIR[:tag] */
	OCI_REF_ARCHIVE, /* docker-archive:FILE */
};

struct oci_ref {
	enum oci_ref_kind kind;
	/* OCI_REF_REGISTRY: "docker.io" for Docker Hub (the pull goes to
	 * registry-1.docker.io), else host[:port] as typed. */
	char registry[256];
	char repository[256];        /* "library/busybox"; lower case, '/'-separated */
	char tag[129];               /* "" when only a digest was given */
	char digest[OCI_DIGEST_MAX]; /* "sha256:<64 hex>" or "" */
	char path[4096];             /* OCI_REF_LAYOUT, OCI_REF_ARCHIVE */
};

/* oci_ref_parse: s into *r; -EINVAL (err says why) for a malformed one. */
int oci_ref_parse(const char *s, struct oci_ref *r, char *err, size_t errcap);

/*
 * oci_ref_name: the canonical name the store keeps an image under:
 * "docker.io/library/busybox:latest", "localhost:5000/x/y@sha256:...",
 * "oci:/abs/dir:tag", "docker-archive:/abs/file". -ENAMETOOLONG if cap is
 * too small.
 */
int oci_ref_name(const struct oci_ref *r, char *buf, size_t cap);

/* How to reach registries (oci_pull). */
struct oci_pull_opts {
	/* host[:port] names where plain HTTP is allowed besides loopback
	 * (--insecure-registry); NULL-terminated, or NULL. */
	const char *const *insecure;
	/* A docker config.json with "auths" for basic auth; NULL: the
	 * default ($DOCKER_CONFIG/config.json, ~/.docker/config.json). */
	const char *auth_file;
	/* Progress: a terminal gets a live display, else one line per layer. */
	int progress_fd; /* -1: silent */
	bool progress_tty;
};

struct oci_store;

/*
 * oci_store_open: the store at dir (created 0700 if missing), or, with
 * dir NULL, at $KVMBOX_HOME, else $XDG_DATA_HOME/kvmbox, else
 * ~/.local/share/kvmbox.
 */
int oci_store_open(const char *dir, struct oci_store **out, char *err, size_t errcap);
void oci_store_close(struct oci_store *st);

/*
 * oci_store_hold: keep every layer from being collected (by oci_image_remove
 * in another process) while a sandbox uses them: a shared lock on the
 * store, until oci_store_close.
 */
int oci_store_hold(struct oci_store *st);

/*
 * oci_pull: fetch what ref names into the store, verify every blob by its
 * digest, unpack each layer not yet unpacked, and record the reference.
 * A failure leaves the store as it was (no partial blob or layer is ever
 * visible under its final name). Safe against another pull at once.
 */
int oci_pull(struct oci_store *st, const struct oci_ref *ref, const struct oci_pull_opts *o,
             char *err, size_t errcap);

/* What `kvmbox run IMAGE` needs of a pulled image. */
struct oci_image {
	char name[1024];               /* oci_ref_name */
	char manifest[OCI_DIGEST_MAX]; /* the platform manifest's digest */
	char config_digest[OCI_DIGEST_MAX];
	/* The unpacked layers, bottom first: host folders under the store. */
	size_t nr_layers;
	char **layer_dirs;
	/* An empty folder: the root of the share whose grafts are layer_dirs
	 * (virtio/fuse.h), so that the guest sees no other layer. */
	char *share_root;
	uint64_t size; /* bytes of the layers, compressed */
	/* The config's process (image-spec config.md), NULL-terminated
	 * vectors (NULL when absent), strings as given. */
	char **entrypoint, **cmd, **env;
	char *workdir, *user;
	int64_t created; /* seconds since the epoch; 0: unknown */
};

/* oci_image_get: the image the store keeps under ref; -ENOENT if not pulled. */
int oci_image_get(struct oci_store *st, const struct oci_ref *ref, struct oci_image *img, char *err,
                  size_t errcap);
void oci_image_free(struct oci_image *img);

/* oci_image_list: calls fn for each image kept, in name order; stops at a non-zero return. */
int oci_image_list(struct oci_store *st, int (*fn)(void *arg, const struct oci_image *img),
                   void *arg, char *err, size_t errcap);

/*
 * oci_image_remove: forget ref, then delete the blobs and layers no other
 * image uses. -ENOENT if it was not kept.
 */
int oci_image_remove(struct oci_store *st, const struct oci_ref *ref, char *err, size_t errcap);

#endif
