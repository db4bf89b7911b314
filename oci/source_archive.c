// SPDX-License-Identifier: MIT
/*
 * oci/source_archive: what `docker save` (or skopeo's docker-archive:)
 * writes, as a source: a tar whose manifest.json (moby image/tarexport) is
 *
 *   [{"Config": "<hex>.json", "RepoTags": ["name:tag", ...],
 *     "Layers": ["<dir>/layer.tar" or "blobs/sha256/<hex>", ...]}, ...]
 *
 * The tar has no registry manifest, so open makes one: a Docker image
 * manifest v2 schema 2 whose descriptors give the sha256 and size of each
 * member as stored. It makes two passes: the first reads headers only
 * (libarchive skips data with lseek on a plain tar) for manifest.json and
 * the symlinks (the legacy format links a repeated layer to its first
 * copy); the second hashes the members the chosen image needs. blob()
 * streams a member out by one more pass.
 *
 * An archive with only an OCI layout in it (skopeo's oci-archive:) is
 * refused with -ENOTSUP: unpacked, it is an oci:DIR, with that source's
 * checks.
 */
#include "oci/oci_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_MANIFEST_JSON (1u << 20) /* bytes of manifest.json */
#define MAX_IMAGES        1024       /* entries of manifest.json */
#define MAX_ENTRIES       (1u << 20) /* tar members in one pass */
#define MAX_LINKS         4096       /* symlinks kept from the first pass */
#define MAX_HOPS          8          /* symlinks followed for one name */
#define NAME_MAX_LEN      1024       /* a member name we look for */
#define CHUNK             (256u << 10)

#define DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_CONFIG   "application/vnd.docker.container.image.v1+json"

/* One member the image needs: [0] the config, then the layers. */
struct need {
	char name[NAME_MAX_LEN];
	char digest[OCI_DIGEST_MAX];
	uint64_t size, ordinal;
	bool found;
	unsigned char magic[4];
};

struct link {
	char *name, *target; /* one allocation: target follows name's NUL */
};

struct archive_source {
	struct oci_source src; /* first: the ops get it back by a cast */
	int fd;
	char path[4096];
	char *manifest; /* the synthesized manifest, and its length */
	size_t manifest_len;
	size_t nr_needs;
	struct need *needs;
	/* The first pass's findings. */
	char *manifest_json;
	size_t manifest_json_len;
	bool has_index, has_oci_layout;
	size_t nr_links;
	struct link *links;
};

/*
 * clean_name: a member name made canonical in place, lexically ("./a//b"
 * -> "a/b", "a/../b" -> "b"); false when it climbs above the top.
 */
static bool clean_name(char *s)
{
	size_t o = 0, i = 0, len = strlen(s);

	while (i < len) {
		size_t j = i;

		while (j < len && s[j] != '/')
			j++;
		if (j - i == 2 && s[i] == '.' && s[i + 1] == '.') {
			if (o == 0)
				return false;
			while (o > 0 && s[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else if (j > i && !(j - i == 1 && s[i] == '.')) {
			if (o)
				s[o++] = '/';
			memmove(s + o, s + i, j - i);
			o += j - i;
		}
		i = j + 1;
	}
	s[o] = '\0';
	return true;
}

/*
 * each_member: one pass over the tar from its start, calling fn for each
 * regular file or symlink (stop at a non-zero return, which is returned).
 */
typedef int member_fn(struct archive_source *as, struct archive *a, struct archive_entry *e,
                      char *name, uint64_t ordinal, void *arg);
static int each_member(struct archive_source *as, member_fn *fn, void *arg, char *err,
                       size_t errcap)
{
	struct archive_entry *e;
	struct archive *a;
	uint64_t ordinal = 0;
	char name[NAME_MAX_LEN];
	int rc = 0, r;

	if (lseek(as->fd, 0, SEEK_SET) < 0)
		return oci_err(err, errcap, -errno, "%s: %s", as->path, strerror(errno));
	a = archive_read_new();
	if (!a)
		return -ENOMEM;
	/* tar only (docker save writes no other), plain or compressed with
	 * what a user may have piped it through; no external programs. */
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	if (archive_read_open_fd(a, as->fd, 64 << 10) != ARCHIVE_OK) {
		rc = oci_err(err, errcap, -EINVAL, "%s: not a tar archive: %s", as->path,
		             archive_error_string(a));
		archive_read_free(a);
		return rc;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *n = archive_entry_pathname(e);
		mode_t t = archive_entry_filetype(e);

		if (++ordinal > MAX_ENTRIES) {
			rc = oci_err(err, errcap, -E2BIG, "%s: more than %u members", as->path,
			             MAX_ENTRIES);
			break;
		}
		if (!n || strlen(n) >= sizeof(name) || (t != AE_IFREG && t != AE_IFLNK) ||
		    archive_entry_hardlink(e))
			continue;
		strcpy(name, n);
		if (!clean_name(name))
			continue;
		rc = fn(as, a, e, name, ordinal, arg);
		if (rc)
			break;
	}
	if (!rc && r != ARCHIVE_EOF && r != ARCHIVE_OK && r != ARCHIVE_WARN)
		rc = oci_err(err, errcap, -EINVAL, "%s: corrupt tar archive: %s", as->path,
		             archive_error_string(a));
	archive_read_free(a);
	return rc;
}

/* read_member: the current member's data (its header's size, at most
 * max bytes) into *out. */
static int read_member(struct archive *a, struct archive_entry *e, size_t max, char **out,
                       size_t *len)
{
	int64_t size = archive_entry_size(e);
	la_ssize_t n = 0;
	size_t got = 0;

	if (size < 0 || (uint64_t)size > max)
		return -EFBIG;
	*out = malloc((size_t)size + 1);
	if (!*out)
		return -ENOMEM;
	while (got <= (size_t)size &&
	       (n = archive_read_data(a, *out + got, (size_t)size + 1 - got)) > 0)
		got += (size_t)n;
	if (n < 0 || got > (size_t)size) {
		free(*out);
		*out = NULL;
		return n < 0 ? -EIO : -EFBIG;
	}
	*len = got;
	return 0;
}

/* scan: the first pass: manifest.json, the symlinks, a sign of an OCI layout. */
static int scan(struct archive_source *as, struct archive *a, struct archive_entry *e, char *name,
                uint64_t ordinal, void *arg)
{
	(void)ordinal, (void)arg;
	if (archive_entry_filetype(e) == AE_IFLNK) {
		const char *t = archive_entry_symlink(e);
		struct link *l;

		if (!t || as->nr_links == MAX_LINKS)
			return 0; /* not one we can follow: "not found" if needed */
		l = &as->links[as->nr_links];
		l->name = malloc(strlen(name) + strlen(t) + 2);
		if (!l->name)
			return -ENOMEM;
		l->target = stpcpy(l->name, name) + 1;
		strcpy(l->target, t);
		as->nr_links++;
		return 0;
	}
	if (!strcmp(name, "index.json"))
		as->has_index = true;
	if (!strcmp(name, "oci-layout"))
		as->has_oci_layout = true;
	if (strcmp(name, "manifest.json"))
		return 0;
	free(as->manifest_json); /* a later copy replaces an earlier one, as tar does */
	as->manifest_json = NULL;
	return read_member(a, e, MAX_MANIFEST_JSON, &as->manifest_json, &as->manifest_json_len);
}

/* follow: name through the archive's symlinks (relative to the link's
 * folder, as a file system would), in place; false past MAX_HOPS. */
static bool follow(struct archive_source *as, char name[NAME_MAX_LEN])
{
	for (int hop = 0; hop <= MAX_HOPS; hop++) {
		const struct link *l = NULL;
		char buf[2 * NAME_MAX_LEN];
		const char *slash;

		/* The last link of a name wins, as extraction would leave it. */
		for (size_t i = as->nr_links; i-- > 0 && !l;)
			if (!strcmp(as->links[i].name, name))
				l = &as->links[i];
		if (!l)
			return true;
		slash = strrchr(name, '/');
		if (l->target[0] == '/' || !slash)
			snprintf(buf, sizeof(buf), "%s", l->target);
		else
			snprintf(buf, sizeof(buf), "%.*s/%s", (int)(slash - name), name, l->target);
		if (strlen(buf) >= NAME_MAX_LEN || !clean_name(buf))
			return false;
		strcpy(name, buf);
	}
	return false;
}

/* hash: the second pass: each needed member's digest, size and first bytes. */
static int hash(struct archive_source *as, struct archive *a, struct archive_entry *e, char *name,
                uint64_t ordinal, void *arg)
{
	char digest[OCI_DIGEST_MAX], *buf;
	unsigned char magic[4] = { 0 };
	struct oci_sha256 *h = NULL;
	uint64_t size = 0;
	bool wanted = false;
	int rc;

	for (size_t i = 0; i < as->nr_needs; i++)
		wanted |= !strcmp(as->needs[i].name, name);
	(void)arg;
	if (!wanted || archive_entry_filetype(e) != AE_IFREG)
		return 0;
	buf = malloc(CHUNK);
	rc = buf ? oci_sha256_new(&h) : -ENOMEM;
	while (!rc) {
		la_ssize_t n = archive_read_data(a, buf, CHUNK);

		if (n < 0)
			rc = -EIO;
		if (n <= 0)
			break;
		for (uint64_t k = size; k < 4 && k < size + (uint64_t)n; k++)
			magic[k] = (unsigned char)buf[k - size];
		size += (uint64_t)n;
		rc = oci_sha256_update(h, buf, (size_t)n);
	}
	if (!rc)
		rc = oci_sha256_final(h, digest);
	oci_sha256_free(h);
	free(buf);
	for (size_t i = 0; !rc && i < as->nr_needs; i++) {
		struct need *nd = &as->needs[i];

		if (strcmp(nd->name, name))
			continue;
		strcpy(nd->digest, digest);
		memcpy(nd->magic, magic, sizeof(magic));
		nd->size = size;
		nd->ordinal = ordinal;
		nd->found = true;
	}
	return rc;
}

/* repo_tag_matches: whether a RepoTags string names what ref names. */
static bool repo_tag_matches(const char *s, const struct oci_ref *ref)
{
	struct oci_ref r;

	if (!s || oci_ref_parse(s, &r, NULL, 0) || r.kind != OCI_REF_REGISTRY)
		return false;
	return !strcmp(r.registry, ref->registry) && !strcmp(r.repository, ref->repository) &&
	       !strcmp(r.tag, ref->tag);
}

/*
 * choose: manifest.json's entry for ref (the first, or the one whose
 * RepoTags has ref's name), its Config and Layers into as->needs.
 */
static int choose(struct archive_source *as, const struct oci_ref *ref, char *err, size_t errcap)
{
	const json_t *img = NULL, *e, *t, *layers, *cfg;
	char seen[256] = "";
	json_t *root;
	size_t i, k;
	int rc = 0;

	root = json_loadb(as->manifest_json, as->manifest_json_len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_array(root) || json_array_size(root) == 0 ||
	    json_array_size(root) > MAX_IMAGES) {
		json_decref(root);
		return oci_err(err, errcap, -EINVAL,
		               "%s: manifest.json is not a list of 1 to %d images", as->path,
		               MAX_IMAGES);
	}
	json_array_foreach(root, i, e)
	{
		if (!ref->repository[0]) {
			img = e;
			break;
		}
		json_array_foreach(json_object_get(e, "RepoTags"), k, t)
		{
			size_t n = strlen(seen);

			if (repo_tag_matches(json_string_value(t), ref))
				img = e;
			else if (json_is_string(t) && n + 4 < sizeof(seen))
				snprintf(seen + n, sizeof(seen) - n, "%s%.64s", n ? ", " : "",
				         json_string_value(t));
		}
		if (img)
			break;
	}
	cfg = json_object_get(img, "Config");
	layers = json_object_get(img, "Layers");
	if (!img)
		rc = oci_err(err, errcap, -ENOENT, "%s: no image tagged %s/%s:%s (it has: %s)",
		             as->path, ref->registry, ref->repository, ref->tag,
		             *seen ? seen : "no tags");
	else if (!json_is_string(cfg) || !json_is_array(layers))
		rc = oci_err(err, errcap, -EINVAL,
		             "%s: manifest.json: an image without Config or Layers", as->path);
	else if (json_array_size(layers) > OCI_MAX_LAYERS)
		rc = oci_err(err, errcap, -E2BIG, "%s: more than %d layers", as->path,
		             OCI_MAX_LAYERS);
	if (!rc) {
		as->nr_needs = 1 + json_array_size(layers);
		as->needs = calloc(as->nr_needs, sizeof(*as->needs));
		if (!as->needs)
			rc = -ENOMEM;
	}
	for (i = 0; !rc && i < as->nr_needs; i++) {
		const char *s = json_string_value(i ? json_array_get(layers, i - 1) : cfg);
		char *n = as->needs[i].name;

		if (s && strlen(s) < NAME_MAX_LEN)
			strcpy(n, s);
		if (!*n || !clean_name(n) || !follow(as, n) || !*n)
			rc = oci_err(err, errcap, -EINVAL,
			             "%s: manifest.json names an invalid member (%.128s)", as->path,
			             s ? s : "not a string");
	}
	json_decref(root);
	return rc;
}

/* layer_type: the media type for a layer by its first bytes (RFC 1952's
 * gzip magic 1f 8b; RFC 8878's zstd frame magic 28 b5 2f fd). */
static const char *layer_type(const struct need *n)
{
	if (n->size >= 2 && n->magic[0] == 0x1f && n->magic[1] == 0x8b)
		return "application/vnd.docker.image.rootfs.diff.tar.gzip";
	if (n->size >= 4 && !memcmp(n->magic, "\x28\xb5\x2f\xfd", 4))
		return "application/vnd.oci.image.layer.v1.tar+zstd";
	return "application/vnd.docker.image.rootfs.diff.tar";
}

/* synthesize: the image's manifest (distribution manifest-v2-2.md). */
static int synthesize(struct archive_source *as, char *err, size_t errcap)
{
	json_t *m, *layers = json_array();
	char digest[OCI_DIGEST_MAX];
	int rc = 0;

	for (size_t i = 0; i < as->nr_needs; i++)
		if (!as->needs[i].found)
			rc = oci_err(err, errcap, -ENOENT,
			             "%s: manifest.json names %s, not in the tar", as->path,
			             as->needs[i].name);
	for (size_t i = 1; !rc && layers && i < as->nr_needs; i++)
		if (json_array_append_new(layers, json_pack("{s:s, s:I, s:s}", "mediaType",
		                                            layer_type(&as->needs[i]), "size",
		                                            (json_int_t)as->needs[i].size, "digest",
		                                            as->needs[i].digest)))
			rc = -ENOMEM;
	if (rc) {
		json_decref(layers);
		return rc;
	}
	m = json_pack("{s:i, s:s, s:{s:s, s:I, s:s}, s:o}", "schemaVersion", 2, "mediaType",
	              DOCKER_MANIFEST, "config", "mediaType", DOCKER_CONFIG, "size",
	              (json_int_t)as->needs[0].size, "digest", as->needs[0].digest, "layers",
	              layers);
	as->manifest = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	if (!as->manifest)
		return -ENOMEM;
	as->manifest_len = strlen(as->manifest);
	rc = oci_sha256_buf(as->manifest, as->manifest_len, digest);
	if (!rc)
		snprintf(as->src.reference, sizeof(as->src.reference), "%s", digest);
	return rc;
}

/* archive_manifest: the synthesized manifest, by its digest. */
static int archive_manifest(struct oci_source *src, const char *reference, char **buf, size_t *len,
                            char media_type[128], char *err, size_t errcap)
{
	struct archive_source *as = (struct archive_source *)src;

	*buf = NULL;
	if (strcmp(reference, as->src.reference))
		return oci_err(err, errcap, -ENOENT, "%s: no manifest %s in the archive", as->path,
		               reference);
	*buf = malloc(as->manifest_len);
	if (!*buf)
		return -ENOMEM;
	memcpy(*buf, as->manifest, as->manifest_len);
	*len = as->manifest_len;
	strcpy(media_type, DOCKER_MANIFEST);
	return 0;
}

struct copy {
	const struct need *need;
	const struct oci_descriptor *d;
	int fd;
	const struct oci_progress *p;
	char *buf;
};

/* copy_out: blob()'s pass: the member at the need's ordinal into the fd. */
static int copy_out(struct archive_source *as, struct archive *a, struct archive_entry *e,
                    char *name, uint64_t ordinal, void *arg)
{
	struct copy *c = arg;
	uint64_t done = 0;
	int rc;

	(void)as, (void)e;
	if (ordinal != c->need->ordinal)
		return 0;
	if (strcmp(name, c->need->name))
		return -ESTALE; /* the file changed since open */
	for (;;) {
		la_ssize_t n = archive_read_data(a, c->buf, CHUNK);

		if (n < 0)
			return -EIO;
		if (n == 0)
			break;
		if ((uint64_t)n > c->d->size - done)
			return -EFBIG;
		done += (uint64_t)n;
		rc = oci_write_all(c->fd, c->buf, (size_t)n);
		if (rc)
			return rc;
		if (c->p && c->p->fn)
			c->p->fn(c->p->arg, c->d->digest, done, c->d->size);
	}
	if (!done && c->p && c->p->fn) /* an empty member: its final report */
		c->p->fn(c->p->arg, c->d->digest, 0, c->d->size);
	return 1; /* found: stop the pass */
}

/* archive_blob: the member whose digest d gives, by one more pass. */
static int archive_blob(struct oci_source *src, const struct oci_descriptor *d, int fd,
                        const struct oci_progress *p, char *err, size_t errcap)
{
	struct archive_source *as = (struct archive_source *)src;
	struct copy c = { .d = d, .fd = fd, .p = p };
	int rc;

	for (size_t i = 0; i < as->nr_needs && !c.need; i++)
		if (!strcmp(as->needs[i].digest, d->digest))
			c.need = &as->needs[i];
	if (!c.need)
		return oci_err(err, errcap, -ENOENT, "blob %s: not in %s", d->digest, as->path);
	if (c.need->size > d->size)
		return oci_err(err, errcap, -EFBIG, "blob %s in %s: larger than its descriptor",
		               d->digest, as->path);
	c.buf = malloc(CHUNK);
	if (!c.buf)
		return -ENOMEM;
	rc = each_member(as, copy_out, &c, err, errcap);
	free(c.buf);
	if (rc == 1 || rc == -EINVAL || rc == -E2BIG) /* done, or each_member said why */
		return rc == 1 ? 0 : rc;
	rc = rc ? rc : -ESTALE;
	return oci_err(err, errcap, rc, "blob %s in %s: %s", d->digest, as->path,
	               rc == -ESTALE  ? "the archive changed since it was opened"
	               : rc == -EFBIG ? "larger than its descriptor"
	                              : strerror(-rc));
}

static void archive_close(struct oci_source *src)
{
	struct archive_source *as = (struct archive_source *)src;

	if (!as)
		return;
	if (as->fd >= 0)
		close(as->fd);
	for (size_t i = 0; i < as->nr_links; i++)
		free(as->links[i].name);
	free(as->links);
	free(as->needs);
	free(as->manifest);
	free(as->manifest_json);
	free(as);
}

static const struct oci_source_ops archive_ops = {
	.manifest = archive_manifest,
	.blob = archive_blob,
	.close = archive_close,
};

int oci_archive_open(const struct oci_ref *ref, struct oci_source **out, char *err, size_t errcap)
{
	struct archive_source *as;
	struct stat st;
	int rc;

	*out = NULL;
	if (ref->kind != OCI_REF_ARCHIVE)
		return oci_err(err, errcap, -EINVAL, "not a docker-archive: reference");
	as = calloc(1, sizeof(*as));
	if (!as)
		return -ENOMEM;
	as->fd = -1;
	as->src.ops = &archive_ops;
	snprintf(as->path, sizeof(as->path), "%s", ref->path);
	as->links = calloc(MAX_LINKS, sizeof(*as->links));
	as->fd = open(ref->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	rc = as->links ? 0 : -ENOMEM;
	if (!rc && (as->fd < 0 || fstat(as->fd, &st) < 0))
		rc = oci_err(err, errcap, -errno, "%s: %s", as->path, strerror(errno));
	/* A regular file: a FIFO could not be read twice. */
	if (!rc && !S_ISREG(st.st_mode))
		rc = oci_err(err, errcap, -EINVAL, "%s: not a regular file", as->path);
	if (!rc)
		rc = each_member(as, scan, NULL, err, errcap);
	if (rc == -EFBIG)
		rc = oci_err(err, errcap, rc, "%s: manifest.json larger than %u bytes", as->path,
		             MAX_MANIFEST_JSON);
	else if (rc == -EIO)
		rc = oci_err(err, errcap, rc, "%s: cannot read manifest.json", as->path);
	if (!rc && !as->manifest_json && as->has_index && as->has_oci_layout)
		rc = oci_err(err, errcap, -ENOTSUP,
		             "%s holds an OCI image layout, not a docker save archive: unpack it "
		             "and name the folder as oci:DIR",
		             as->path);
	else if (!rc && !as->manifest_json)
		rc = oci_err(err, errcap, -EINVAL,
		             "%s: no manifest.json: not a docker save archive", as->path);
	if (!rc)
		rc = choose(as, ref, err, errcap);
	if (!rc)
		rc = each_member(as, hash, NULL, err, errcap);
	if (rc == -EIO)
		rc = oci_err(err, errcap, rc, "%s: cannot read a member", as->path);
	if (!rc)
		rc = synthesize(as, err, errcap);
	if (rc) {
		archive_close(&as->src);
		return rc;
	}
	*out = &as->src;
	return 0;
}
