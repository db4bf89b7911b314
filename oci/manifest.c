// SPDX-License-Identifier: MIT
/*
 * oci/manifest: the JSON documents of an image (jansson): the index or
 * manifest list (image-spec image-index.md; Docker's manifest list), the
 * image manifest (image-spec manifest.md; Docker's image manifest v2,
 * schema 2) and the image config (image-spec config.md).
 *
 * All of it comes from a registry or a file we do not trust: every field
 * is type-checked, every count and string length bounded, and no value
 * reaches an array index or an allocation size unchecked.
 */
#include "oci/oci_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INDEX_ENTRIES 4096        /* manifests in one index */
#define MAX_CONFIG        (64u << 20) /* bytes of a config document */
#define MAX_VEC           4096        /* Entrypoint, Cmd, Env entries */
#define MAX_STR           (64u << 10) /* bytes of one such string */

/* The media types, image-spec media-types.md and Docker's
 * (distribution's docs/spec/manifest-v2-2.md). */
static const struct {
	const char *type;
	enum oci_media kind;
} media_types[] = {
	{ "application/vnd.oci.image.index.v1+json", OCI_MEDIA_INDEX },
	{ "application/vnd.docker.distribution.manifest.list.v2+json", OCI_MEDIA_INDEX },
	{ "application/vnd.oci.image.manifest.v1+json", OCI_MEDIA_MANIFEST },
	{ "application/vnd.docker.distribution.manifest.v2+json", OCI_MEDIA_MANIFEST },
	/* Docker schema 1: a manifest, so that oci_manifest_parse refuses it
	 * with a message that says why, not "unknown type". */
	{ "application/vnd.docker.distribution.manifest.v1+json", OCI_MEDIA_MANIFEST },
	{ "application/vnd.docker.distribution.manifest.v1+prettyjws", OCI_MEDIA_MANIFEST },
	{ "application/vnd.oci.image.config.v1+json", OCI_MEDIA_CONFIG },
	{ "application/vnd.docker.container.image.v1+json", OCI_MEDIA_CONFIG },
	{ "application/vnd.oci.image.layer.v1.tar", OCI_MEDIA_LAYER_TAR },
	{ "application/vnd.oci.image.layer.v1.tar+gzip", OCI_MEDIA_LAYER_GZIP },
	{ "application/vnd.oci.image.layer.v1.tar+zstd", OCI_MEDIA_LAYER_ZSTD },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar", OCI_MEDIA_LAYER_FOREIGN },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", OCI_MEDIA_LAYER_FOREIGN },
	{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", OCI_MEDIA_LAYER_FOREIGN },
	{ "application/vnd.docker.image.rootfs.diff.tar.gzip", OCI_MEDIA_LAYER_GZIP },
	/* What skopeo and the archive source call an uncompressed Docker layer. */
	{ "application/vnd.docker.image.rootfs.diff.tar", OCI_MEDIA_LAYER_TAR },
	{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", OCI_MEDIA_LAYER_FOREIGN },
};

const char oci_manifest_accept[] = "application/vnd.oci.image.index.v1+json, "
                                   "application/vnd.oci.image.manifest.v1+json, "
                                   "application/vnd.docker.distribution.manifest.list.v2+json, "
                                   "application/vnd.docker.distribution.manifest.v2+json";

/* oci_media_kind: the kind of a media type; parameters (a Content-Type's
 * "; charset=...") and surrounding blanks are ignored. */
enum oci_media oci_media_kind(const char *media_type)
{
	size_t n;

	if (!media_type)
		return OCI_MEDIA_UNKNOWN;
	while (*media_type == ' ' || *media_type == '\t')
		media_type++;
	n = strcspn(media_type, "; \t");
	for (size_t i = 0; i < sizeof(media_types) / sizeof(media_types[0]); i++)
		if (strlen(media_types[i].type) == n &&
		    !strncmp(media_types[i].type, media_type, n))
			return media_types[i].kind;
	return OCI_MEDIA_UNKNOWN;
}

/* load: json as an object; NULL (err says why) otherwise. Duplicate keys
 * are refused: two parsers could read different values from them. */
static json_t *load(const char *json, size_t len, size_t max, const char *what, int *rc, char *err,
                    size_t errcap)
{
	json_error_t je;
	json_t *root;

	if (!json || len > max) {
		*rc = json ? oci_err(err, errcap, -EFBIG, "%s: larger than %zu bytes", what, max)
		           : oci_err(err, errcap, -EINVAL, "%s: no document", what);
		return NULL;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		*rc = oci_err(err, errcap, -EINVAL, "%s: invalid JSON: %s (line %d)", what, je.text,
		              je.line);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		*rc = oci_err(err, errcap, -EINVAL, "%s: not a JSON object", what);
		return NULL;
	}
	*rc = 0;
	return root;
}

/* get_desc: a descriptor (image-spec descriptor.md): mediaType, digest and
 * size, each checked; what names it in errors ("layer 3"). */
static int get_desc(const json_t *o, const char *what, struct oci_descriptor *d, char *err,
                    size_t errcap)
{
	const json_t *mt = json_object_get(o, "mediaType"), *dg = json_object_get(o, "digest");
	const json_t *sz = json_object_get(o, "size");
	const char *s;

	memset(d, 0, sizeof(*d));
	if (!json_is_object(o))
		return oci_err(err, errcap, -EINVAL, "%s: not a descriptor object", what);
	if (!json_is_string(mt) || json_string_length(mt) >= sizeof(d->media_type))
		return oci_err(err, errcap, -EINVAL, "%s: no valid mediaType", what);
	strcpy(d->media_type, json_string_value(mt));
	s = json_string_value(dg);
	if (!s)
		return oci_err(err, errcap, -EINVAL, "%s: no digest", what);
	if (!oci_digest_valid(s)) {
		if (strncmp(s, "sha256:", 7) && strchr(s, ':') && json_string_length(dg) < 200)
			return oci_err(err, errcap, -ENOTSUP,
			               "%s: digest %s: only sha256 is supported", what, s);
		return oci_err(err, errcap, -EINVAL, "%s: invalid digest", what);
	}
	strcpy(d->digest, s);
	/* jansson refuses integers past int64 at parse time; a real number
	 * (1e30) or a negative one is refused here. */
	if (!json_is_integer(sz) || json_integer_value(sz) < 0)
		return oci_err(err, errcap, -EINVAL, "%s: size must be a non-negative integer",
		               what);
	d->size = (uint64_t)json_integer_value(sz);
	return 0;
}

/* check_schema: schemaVersion 2 (image-spec: REQUIRED, "MUST be 2"). */
static int check_schema(const json_t *root, const char *what, char *err, size_t errcap)
{
	const json_t *v = json_object_get(root, "schemaVersion");

	if (json_is_integer(v) && json_integer_value(v) == 1)
		return oci_err(err, errcap, -ENOTSUP,
		               "%s: Docker image manifest schema 1 is not supported (deprecated "
		               "since 2017; push the image again with a current docker or skopeo)",
		               what);
	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return oci_err(err, errcap, -EINVAL, "%s: schemaVersion must be 2", what);
	return 0;
}

enum oci_media oci_doc_kind(const char *json, size_t len, const char *header_type)
{
	enum oci_media k = OCI_MEDIA_UNKNOWN;
	const json_t *mt, *sv;
	json_t *root;
	int rc;

	root = load(json, len, OCI_MAX_MANIFEST, "document", &rc, NULL, 0);
	if (!root)
		return OCI_MEDIA_UNKNOWN;
	mt = json_object_get(root, "mediaType");
	sv = json_object_get(root, "schemaVersion");
	if (json_is_string(mt))
		k = oci_media_kind(json_string_value(mt));
	else if (header_type && oci_media_kind(header_type) != OCI_MEDIA_UNKNOWN)
		k = oci_media_kind(header_type);
	else if (json_is_array(json_object_get(root, "manifests")))
		k = OCI_MEDIA_INDEX;
	else if (json_is_array(json_object_get(root, "layers")) ||
	         json_is_array(json_object_get(root, "fsLayers")) ||
	         (json_is_integer(sv) && json_integer_value(sv) == 1))
		k = OCI_MEDIA_MANIFEST; /* schema 1 too: see media_types[] */
	json_decref(root);
	/* Only the two document kinds are answers here. */
	return k == OCI_MEDIA_INDEX || k == OCI_MEDIA_MANIFEST ? k : OCI_MEDIA_UNKNOWN;
}

/* ---- index ------------------------------------------------------------- */

/* default_variant: the variant an entry without one means (containerd's
 * platforms package: amd64 is v1, arm64 is v8, arm is v7). */
static const char *default_variant(const char *arch)
{
	if (!strcmp(arch, "amd64"))
		return "v1";
	if (!strcmp(arch, "arm64"))
		return "v8";
	if (!strcmp(arch, "arm"))
		return "v7";
	return NULL;
}

/* plat_str: a platform's field, "" when absent or not a string. */
static const char *plat_str(const json_t *plat, const char *key)
{
	const char *s = json_string_value(json_object_get(plat, key));

	return s ? s : "";
}

/* list_add: "os/arch[/variant]" appended to the list of platforms seen,
 * bounded by its buffer ("..." once full). */
static void list_add(char *list, size_t cap, const char *os, const char *arch, const char *var)
{
	size_t n = strlen(list);
	int w;

	if (n + 4 >= cap)
		return;
	w = snprintf(list + n, cap - n, "%s%.32s/%.32s%s%.16s", n ? ", " : "", os, arch,
	             *var ? "/" : "", var);
	if (w < 0 || (size_t)w >= cap - n)
		strcpy(list + cap - 4, "...");
}

/*
 * oci_index_select: see oci_int.h. Entries for os/arch match; with variant
 * NULL, one without a variant or with the architecture's default variant
 * is preferred over the others (an amd64/v3 image may not run on this
 * CPU), else the first; with a variant, it must match (a missing one
 * standing for the default). BuildKit's attestation manifests (platform
 * unknown/unknown, image-spec's "vnd.docker.reference.type") are skipped.
 */
int oci_index_select(const char *json, size_t len, const char *os, const char *arch,
                     const char *variant, struct oci_descriptor *out, char *err, size_t errcap)
{
	const char *defv = arch ? default_variant(arch) : NULL;
	const json_t *ms, *e, *best = NULL;
	char list[320] = "";
	json_t *root;
	size_t i;
	int rc, best_score = 0;

	memset(out, 0, sizeof(*out));
	if (!os || !arch)
		return oci_err(err, errcap, -EINVAL, "index: no platform asked for");
	root = load(json, len, OCI_MAX_MANIFEST, "index", &rc, err, errcap);
	if (!root)
		return rc;
	rc = check_schema(root, "index", err, errcap);
	ms = json_object_get(root, "manifests");
	if (!rc && !json_is_array(ms))
		rc = oci_err(err, errcap, -EINVAL, "index: no manifests array");
	if (!rc && json_array_size(ms) > MAX_INDEX_ENTRIES)
		rc = oci_err(err, errcap, -E2BIG, "index: more than %d manifests",
		             MAX_INDEX_ENTRIES);
	json_array_foreach(rc ? NULL : ms, i, e)
	{
		const json_t *plat = json_object_get(e, "platform");
		const char *eos = plat_str(plat, "os"), *earch = plat_str(plat, "architecture");
		const char *evar = plat_str(plat, "variant");
		const json_t *ann = json_object_get(e, "annotations");
		int score;

		if (!json_is_object(plat))
			continue;
		if ((!strcmp(eos, "unknown") && !strcmp(earch, "unknown")) ||
		    json_object_get(ann, "vnd.docker.reference.type"))
			continue;
		list_add(list, sizeof(list), eos, earch, evar);
		if (strcmp(eos, os) || strcmp(earch, arch))
			continue;
		/* 2: exactly what was asked, or the default; 1: another variant. */
		if (variant)
			score = !strcmp(evar, variant) || (!*evar && defv && !strcmp(variant, defv))
			            ? 2
			            : 0;
		else
			score = !*evar || (defv && !strcmp(evar, defv)) ? 2 : 1;
		if (score > best_score) {
			best = e;
			best_score = score;
		}
	}
	if (!rc && !best)
		rc = oci_err(err, errcap, -ENOENT,
		             "no manifest for %.32s/%.32s%s%.16s in the index; "
		             "it has: %s",
		             os, arch, variant ? "/" : "", variant ? variant : "",
		             *list ? list : "no platforms");
	if (!rc)
		rc = get_desc(best, "index entry", out, err, errcap);
	if (!rc) {
		enum oci_media k = oci_media_kind(out->media_type);

		if (k != OCI_MEDIA_MANIFEST && k != OCI_MEDIA_INDEX)
			rc = oci_err(err, errcap, -ENOTSUP,
			             "index entry for %s/%s: media type %s is not a manifest", os,
			             arch, out->media_type);
		else if (out->size > OCI_MAX_MANIFEST)
			rc = oci_err(err, errcap, -EFBIG,
			             "index entry for %s/%s: manifest larger than %u bytes", os,
			             arch, OCI_MAX_MANIFEST);
	}
	if (rc)
		memset(out, 0, sizeof(*out));
	json_decref(root);
	return rc;
}

/* ---- manifest ---------------------------------------------------------- */

int oci_manifest_parse(const char *json, size_t len, struct oci_manifest *m, char *err,
                       size_t errcap)
{
	const json_t *mt, *layers, *e;
	char what[32];
	json_t *root;
	size_t i;
	int rc;

	memset(m, 0, sizeof(*m));
	root = load(json, len, OCI_MAX_MANIFEST, "manifest", &rc, err, errcap);
	if (!root)
		return rc;
	rc = check_schema(root, "manifest", err, errcap);
	mt = json_object_get(root, "mediaType");
	/* image-spec manifest.md: mediaType SHOULD be there; when it is, it
	 * must say manifest (an index here is the caller's confusion). */
	if (!rc && mt && oci_media_kind(json_string_value(mt)) != OCI_MEDIA_MANIFEST)
		rc = oci_err(err, errcap, -EINVAL,
		             "manifest: mediaType %.128s is not an image manifest",
		             json_is_string(mt) ? json_string_value(mt) : "(not a string)");
	if (!rc)
		rc = get_desc(json_object_get(root, "config"), "config", &m->config, err, errcap);
	if (!rc && oci_media_kind(m->config.media_type) != OCI_MEDIA_CONFIG)
		rc = oci_err(err, errcap, -ENOTSUP,
		             "config media type %s is not an image config (an artifact?)",
		             m->config.media_type);
	layers = json_object_get(root, "layers");
	if (!rc && !json_is_array(layers))
		rc = oci_err(err, errcap, -EINVAL, "manifest: no layers array");
	if (!rc && json_array_size(layers) > OCI_MAX_LAYERS)
		rc = oci_err(err, errcap, -E2BIG, "manifest: %zu layers, more than %d",
		             json_array_size(layers), OCI_MAX_LAYERS);
	if (!rc && json_array_size(layers)) {
		m->layers = calloc(json_array_size(layers), sizeof(*m->layers));
		if (!m->layers)
			rc = -ENOMEM;
	}
	json_array_foreach(rc ? NULL : layers, i, e)
	{
		struct oci_descriptor *d = &m->layers[i];
		enum oci_media k;

		snprintf(what, sizeof(what), "layer %zu", i + 1);
		rc = get_desc(e, what, d, err, errcap);
		if (rc)
			break;
		m->nr_layers = i + 1;
		k = oci_media_kind(d->media_type);
		/* Foreign layers (image-spec: non-distributable) are fetched
		 * from their "urls", for Windows base images: never here. */
		if (k == OCI_MEDIA_LAYER_FOREIGN)
			rc = oci_err(err, errcap, -ENOTSUP,
			             "%s: non-distributable (foreign) layer %s is not supported",
			             what, d->media_type);
		else if (k < OCI_MEDIA_LAYER_TAR)
			rc = oci_err(err, errcap, -ENOTSUP, "%s: unsupported media type %s", what,
			             d->media_type);
		if (rc)
			break;
	}
	json_decref(root);
	if (rc)
		oci_manifest_free(m);
	return rc;
}

void oci_manifest_free(struct oci_manifest *m)
{
	if (!m)
		return;
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

/* ---- config ------------------------------------------------------------ */

/* dup_str: a JSON string (at most max bytes) into *out; absent or null
 * leaves *out NULL. */
static int dup_str(const json_t *v, size_t max, char **out, const char *what, char *err,
                   size_t errcap)
{
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return oci_err(err, errcap, -EINVAL, "config: %s must be a string", what);
	if (json_string_length(v) > max)
		return oci_err(err, errcap, -E2BIG, "config: %s longer than %zu bytes", what, max);
	*out = strdup(json_string_value(v));
	return *out ? 0 : -ENOMEM;
}

static void free_vec(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* dup_vec: an array of strings into a NULL-terminated vector; absent or
 * null leaves *out NULL. With strslice, one string is a vector of one, as
 * moby reads Entrypoint and Cmd (api/types/strslice). */
static int dup_vec(const json_t *a, bool strslice, char ***out, const char *what, char *err,
                   size_t errcap)
{
	json_t *wrap = NULL;
	const json_t *e;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (strslice && json_is_string(a)) {
		a = wrap = json_pack("[s]", json_string_value(a));
		if (!wrap)
			return -ENOMEM;
	}
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		rc = oci_err(err, errcap, -EINVAL, "config: %s must be an array of strings", what);
	else if (json_array_size(a) > MAX_VEC)
		rc = oci_err(err, errcap, -E2BIG, "config: %s has more than %d entries", what,
		             MAX_VEC);
	else if (!(*out = calloc(json_array_size(a) + 1, sizeof(char *))))
		rc = -ENOMEM;
	json_array_foreach(rc ? NULL : a, i, e)
	{
		rc = dup_str(e, MAX_STR, &(*out)[i], what, err, errcap);
		if (!rc && !(*out)[i])
			rc = oci_err(err, errcap, -EINVAL, "config: %s must be an array of strings",
			             what);
		if (rc)
			break;
	}
	json_decref(wrap);
	if (rc) {
		free_vec(*out);
		*out = NULL;
	}
	return rc;
}

/* digits: n decimal digits at s, or -1. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * rfc3339: "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" (RFC 3339 5.6)
 * as seconds since the epoch; 0 (unknown) for anything else, and for a
 * time before the epoch: docker writes Go's zero time for "none".
 */
static int64_t rfc3339(const char *s)
{
	int y = digits(s, 4), mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	int64_t days, t;
	size_t i = 19;

	if (strlen(s) < 20 || y < 0 || s[4] != '-' || s[7] != '-' || !strchr("Tt ", s[10]) ||
	    s[13] != ':' || s[16] != ':')
		return 0;
	mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2);
	mi = digits(s + 14, 2), sec = digits(s + 17, 2);
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    sec < 0 || sec > 60)
		return 0;
	if (s[i] == '.') {
		while (s[++i] >= '0' && s[i] <= '9')
			;
		if (i == 20)
			return 0;
	}
	if ((s[i] == 'Z' || s[i] == 'z') && !s[i + 1]) {
		sign = 0;
	} else if ((s[i] == '+' || s[i] == '-') && strlen(s + i) == 6 && s[i + 3] == ':') {
		sign = s[i] == '+' ? 1 : -1;
		oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return 0;
	} else {
		return 0;
	}
	/* Days from the civil date (H. Hinnant's days_from_civil). */
	{
		int64_t yy = y - (mo <= 2), era = yy / 400; /* y >= 0: no floor needed */
		int64_t yoe = yy - era * 400, mp = (mo + 9) % 12;
		int64_t doy = (153 * mp + 2) / 5 + d - 1,
		        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

		if (yy < 0)
			return 0;
		days = era * 146097 + doe - 719468;
	}
	t = days * 86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
	return t > 0 ? t : 0;
}

int oci_config_parse(const char *json, size_t len, struct oci_config *c, char *err, size_t errcap)
{
	const json_t *cfg, *rootfs, *ids, *e, *created;
	json_t *root;
	size_t i;
	int rc;

	memset(c, 0, sizeof(*c));
	root = load(json, len, MAX_CONFIG, "config", &rc, err, errcap);
	if (!root)
		return rc;
	/* config.md: "config" is OPTIONAL and may be null. */
	cfg = json_object_get(root, "config");
	if (cfg && !json_is_null(cfg) && !json_is_object(cfg))
		rc = oci_err(err, errcap, -EINVAL, "config: config must be an object");
	if (!rc)
		rc = dup_vec(json_object_get(cfg, "Entrypoint"), true, &c->entrypoint, "Entrypoint",
		             err, errcap);
	if (!rc)
		rc = dup_vec(json_object_get(cfg, "Cmd"), true, &c->cmd, "Cmd", err, errcap);
	if (!rc)
		rc = dup_vec(json_object_get(cfg, "Env"), false, &c->env, "Env", err, errcap);
	if (!rc)
		rc = dup_str(json_object_get(cfg, "WorkingDir"), 4096, &c->workdir, "WorkingDir",
		             err, errcap);
	if (!rc)
		rc = dup_str(json_object_get(cfg, "User"), 1024, &c->user, "User", err, errcap);
	if (!rc)
		rc = dup_str(json_object_get(root, "os"), 64, &c->os, "os", err, errcap);
	if (!rc)
		rc = dup_str(json_object_get(root, "architecture"), 64, &c->arch, "architecture",
		             err, errcap);
	created = json_object_get(root, "created");
	if (!rc && json_is_string(created))
		c->created = rfc3339(json_string_value(created));

	rootfs = json_object_get(root, "rootfs");
	ids = json_object_get(rootfs, "diff_ids");
	if (!rc && rootfs && !json_is_object(rootfs))
		rc = oci_err(err, errcap, -EINVAL, "config: rootfs must be an object");
	if (!rc && ids && !json_is_array(ids))
		rc = oci_err(err, errcap, -EINVAL, "config: rootfs.diff_ids must be an array");
	if (!rc && json_array_size(ids) > OCI_MAX_LAYERS)
		rc = oci_err(err, errcap, -E2BIG, "config: more than %d diff_ids", OCI_MAX_LAYERS);
	if (!rc && json_array_size(ids)) {
		c->diff_ids = calloc(json_array_size(ids), sizeof(char *));
		if (!c->diff_ids)
			rc = -ENOMEM;
	}
	json_array_foreach(rc ? NULL : ids, i, e)
	{
		if (!oci_digest_valid(json_string_value(e))) {
			rc = oci_err(err, errcap, -EINVAL,
			             "config: diff_ids[%zu] is not a sha256 digest", i);
			break;
		}
		c->diff_ids[i] = strdup(json_string_value(e));
		if (!c->diff_ids[i]) {
			rc = -ENOMEM;
			break;
		}
		c->nr_diff_ids = i + 1;
	}
	json_decref(root);
	if (rc)
		oci_config_free(c);
	return rc;
}

void oci_config_free(struct oci_config *c)
{
	if (!c)
		return;
	free_vec(c->entrypoint);
	free_vec(c->cmd);
	free_vec(c->env);
	free(c->workdir);
	free(c->user);
	free(c->os);
	free(c->arch);
	for (size_t i = 0; i < c->nr_diff_ids; i++)
		free(c->diff_ids[i]);
	free(c->diff_ids);
	memset(c, 0, sizeof(*c));
}
