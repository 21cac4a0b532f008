/*
 * fhir_in_patch.c - JSON Patch (RFC 6902) with JSON Pointer (RFC 6901),
 * for PATCH Task/{id} (Content-Type application/json-patch+json). The
 * patch is applied to a copy; the document changes only when every
 * operation succeeded, so that a refused PATCH leaves nothing half done.
 *
 * Refusals: a patch that is not an array of operations 400; a path that
 * does not resolve 422; a failed "test" 409 (the client's precondition,
 * like an If-Match). Expressions name the operation ("patch[2].path"),
 * never the values.
 */
#include "fhir_in_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pointer tokens: at most this many levels and this long each. */
#define S_DEPTH 32
#define S_TOKEN 256

struct s_ptr {
    char tok[S_DEPTH][S_TOKEN];
    size_t n;
};

/* Split and unescape a JSON Pointer ("" is the whole document). */
static int
s_ptr_parse(const char *s, const char *path, struct s_ptr *p,
            struct fhir_error *e)
{
    p->n = 0;
    if (*s == '\0')
        return KR_OK;
    if (*s != '/')
        return fhir_error_set(e, 400, "invalid", path,
                              "not a JSON Pointer: it starts with '/'");
    while (*s == '/') {
        size_t len = 0;
        if (p->n == S_DEPTH)
            return fhir_error_set(e, 422, "too-long", path,
                                  "more than %d levels", S_DEPTH);
        s++;
        for (; *s != '\0' && *s != '/'; s++) {
            char c = *s;
            if (c == '~') {
                if (s[1] == '0')
                    c = '~';
                else if (s[1] == '1')
                    c = '/';
                else
                    return fhir_error_set(e, 400, "invalid", path,
                                          "not a JSON Pointer: '~' is "
                                          "followed by 0 or 1");
                s++;
            }
            if (len + 1 >= S_TOKEN)
                return fhir_error_set(e, 422, "too-long", path,
                                      "a pointer token longer than %d bytes",
                                      S_TOKEN - 1);
            p->tok[p->n][len++] = c;
        }
        p->tok[p->n][len] = '\0';
        p->n++;
    }
    return KR_OK;
}

/* An array index token: digits without a leading zero, below 'limit'
 * (inclusive when 'end_ok', for add). */
static bool
s_index(const char *t, size_t len, bool end_ok, size_t *out)
{
    size_t v = 0;

    if (t[0] == '\0' || (t[0] == '0' && t[1] != '\0'))
        return false;
    for (const char *c = t; *c; c++) {
        if (*c < '0' || *c > '9' || v > 100000000)
            return false;
        v = v * 10 + (size_t)(*c - '0');
    }
    if (v > len || (v == len && !end_ok))
        return false;
    *out = v;
    return true;
}

/* The value at the first 'n' tokens of 'p' into *out (JSON null is a
 * value: NULL); false if there is none. */
static bool
s_find(json_object *root, const struct s_ptr *p, size_t n, json_object **out)
{
    json_object *cur = root;

    for (size_t i = 0; i < n; i++) {
        json_object *next = NULL;
        size_t idx;
        if (json_object_is_type(cur, json_type_object)) {
            if (!json_object_object_get_ex(cur, p->tok[i], &next))
                return false;
        } else if (json_object_is_type(cur, json_type_array)) {
            if (!s_index(p->tok[i], json_object_array_length(cur), false, &idx))
                return false;
            next = json_object_array_get_idx(cur, idx);
        } else {
            return false; /* a scalar or null has no members */
        }
        cur = next;
    }
    *out = cur;
    return true;
}

/* The same where only containers matter (a parent): NULL if none. */
static json_object *
s_walk(json_object *root, const struct s_ptr *p, size_t n)
{
    json_object *v = NULL;

    return s_find(root, p, n, &v) ? v : NULL;
}

/* Insert 'v' (owned) at 'idx' of 'a' (idx <= length). */
static void
s_array_insert(json_object *a, size_t idx, json_object *v)
{
    size_t n = json_object_array_length(a);
    json_object **tail;

    if (idx >= n) {
        json_object_array_add(a, v);
        return;
    }
    /* json-c 0.16 has no insert: take the tail out, add v, put the tail
     * back. */
    tail = xcalloc(n - idx, sizeof(*tail));
    for (size_t i = idx; i < n; i++)
        tail[i - idx] = json_object_get(json_object_array_get_idx(a, i));
    json_object_array_del_idx(a, idx, n - idx);
    json_object_array_add(a, v);
    for (size_t i = 0; i < n - idx; i++)
        json_object_array_add(a, tail[i]);
    free(tail);
}

/* Add 'v' (owned) at 'p' of *root. */
static int
s_add(json_object **root, const struct s_ptr *p, json_object *v,
      const char *path, struct fhir_error *e)
{
    json_object *parent;
    size_t idx;

    if (p->n == 0) {
        json_object_put(*root);
        *root = v;
        return KR_OK;
    }
    parent = s_walk(*root, p, p->n - 1);
    const char *last = p->tok[p->n - 1];
    if (json_object_is_type(parent, json_type_object)) {
        json_object_object_add(parent, last, v);
        return KR_OK;
    }
    if (json_object_is_type(parent, json_type_array)) {
        size_t len = json_object_array_length(parent);
        if (strcmp(last, "-") == 0) {
            json_object_array_add(parent, v);
            return KR_OK;
        }
        if (s_index(last, len, true, &idx)) {
            s_array_insert(parent, idx, v);
            return KR_OK;
        }
    }
    json_object_put(v);
    return fhir_error_set(e, 422, "processing", path,
                          "does not resolve in the document");
}

/* Remove the value at 'p'; *taken (if not NULL) gets it, owned. */
static int
s_remove(json_object *root, const struct s_ptr *p, json_object **taken,
         const char *path, struct fhir_error *e)
{
    json_object *parent, *v;
    size_t idx;

    if (taken != NULL)
        *taken = NULL;
    if (p->n == 0)
        return fhir_error_set(e, 422, "processing", path,
                              "the whole document cannot be removed");
    parent = s_walk(root, p, p->n - 1);
    const char *last = p->tok[p->n - 1];
    if (json_object_is_type(parent, json_type_object) &&
        json_object_object_get_ex(parent, last, &v)) {
        if (taken != NULL)
            *taken = json_object_get(v);
        json_object_object_del(parent, last);
        return KR_OK;
    }
    if (json_object_is_type(parent, json_type_array) &&
        s_index(last, json_object_array_length(parent), false, &idx)) {
        if (taken != NULL)
            *taken = json_object_get(json_object_array_get_idx(parent, idx));
        json_object_array_del_idx(parent, idx, 1);
        return KR_OK;
    }
    return fhir_error_set(e, 422, "processing", path,
                          "does not resolve in the document");
}

static json_object *
s_copy(json_object *v)
{
    json_object *c = NULL;

    if (v == NULL)
        return NULL;
    if (json_object_deep_copy(v, &c, NULL) != 0)
        return NULL;
    return c;
}

/* One operation on *root, 'p' and 'from' room for its pointers. */
static int
s_op_with(json_object **root, json_object *op, size_t i, struct s_ptr *pp,
          struct s_ptr *fp, struct fhir_error *e)
{
    json_object *v, *val = NULL;
    const char *name, *ps, *fs = NULL;
    char ep[FIN_PATH], epath[FIN_PATH], efrom[FIN_PATH];
    bool has_value;
    int rc;

    fin_index(ep, "", "patch", i);
    fin_join(epath, ep, "path");
    fin_join(efrom, ep, "from");
    if (!json_object_is_type(op, json_type_object))
        return fhir_error_set(e, 400, "structure", ep,
                              "an operation is an object");
    if ((rc = fin_get(op, ep, "op", json_type_string, true, &v, e)) != KR_OK)
        return rc;
    name = json_object_get_string(v);
    if ((rc = fin_get(op, ep, "path", json_type_string, true, &v, e)) != KR_OK)
        return rc;
    ps = json_object_get_string(v);
    if ((rc = s_ptr_parse(ps, epath, pp, e)) != KR_OK)
        return rc;
    /* "value" may be JSON null (RFC 6902); present is what counts. */
    has_value = json_object_object_get_ex(op, "value", &val);

    if (strcmp(name, "add") == 0 || strcmp(name, "replace") == 0 ||
        strcmp(name, "test") == 0) {
        if (!has_value)
            return fhir_error_set(e, 400, "required", ep,
                                  "a value is needed for %s",
                                  name[0] == 'a'   ? "add"
                                  : name[0] == 'r' ? "replace"
                                                   : "test");
        if (name[0] == 't') {
            json_object *cur = NULL;
            if (!s_find(*root, pp, pp->n, &cur))
                return fhir_error_set(e, 422, "processing", epath,
                                      "does not resolve in the document");
            if (!json_object_equal(cur, val))
                return fhir_error_set(e, 409, "conflict", ep,
                                      "test failed: the document is not as "
                                      "the patch expects");
            return KR_OK;
        }
        if (name[0] == 'r' &&
            (rc = s_remove(*root, pp, NULL, epath, e)) != KR_OK)
            return rc;
        return s_add(root, pp, s_copy(val), epath, e);
    }
    if (strcmp(name, "remove") == 0)
        return s_remove(*root, pp, NULL, epath, e);
    if (strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
        if ((rc = fin_get(op, ep, "from", json_type_string, true, &v, e)) !=
            KR_OK)
            return rc;
        fs = json_object_get_string(v);
        if ((rc = s_ptr_parse(fs, efrom, fp, e)) != KR_OK)
            return rc;
        if (s_walk(*root, fp, fp->n) == NULL)
            return fhir_error_set(e, 422, "processing", efrom,
                                  "does not resolve in the document");
        if (name[0] == 'c')
            return s_add(root, pp, s_copy(s_walk(*root, fp, fp->n)), epath, e);
        /* A value cannot move into itself. */
        size_t fl = strlen(fs);
        if (strncmp(ps, fs, fl) == 0 && ps[fl] == '/')
            return fhir_error_set(e, 422, "processing", epath,
                                  "lies inside from: a value cannot move "
                                  "into itself");
        if (strcmp(ps, fs) == 0)
            return KR_OK;
        if ((rc = s_remove(*root, fp, &val, efrom, e)) != KR_OK)
            return rc;
        return s_add(root, pp, val, epath, e);
    }
    fin_join(ep, ep, "op");
    return fhir_error_set(e, 400, "invalid", ep,
                          "not add, remove, replace, move, copy or test");
}

/* The pointers are large (S_DEPTH tokens): on the heap, not the stack of
 * a server thread. */
static int
s_op(json_object **root, json_object *op, size_t i, struct fhir_error *e)
{
    struct s_ptr *pp = xcalloc(2, sizeof(*pp));
    int rc = s_op_with(root, op, i, &pp[0], &pp[1], e);

    free(pp);
    return rc;
}

int
fhir_json_patch_apply(json_object *doc, json_object *patch,
                      struct fhir_error *e)
{
    json_object *root = NULL;
    size_t n;
    int rc = KR_OK;

    if (!json_object_is_type(doc, json_type_object))
        return fhir_error_set(e, 500, "exception", "",
                              "the document to patch is not an object");
    if (!json_object_is_type(patch, json_type_array))
        return fhir_error_set(e, 400, "structure", "patch",
                              "a JSON Patch is an array of operations");
    n = json_object_array_length(patch);
    if (n > FIN_MAX_PATCH_OPS)
        return fhir_error_set(e, 422, "too-long", "patch",
                              "more than %d operations", FIN_MAX_PATCH_OPS);
    if ((root = s_copy(doc)) == NULL)
        return fhir_error_set(e, 500, "exception", "", "out of memory");
    for (size_t i = 0; i < n && rc == KR_OK; i++)
        rc = s_op(&root, json_object_array_get_idx(patch, i), i, e);
    if (rc == KR_OK && !json_object_is_type(root, json_type_object))
        rc = fhir_error_set(e, 422, "processing", "patch",
                            "the patched document is not a JSON object");
    if (rc != KR_OK) {
        json_object_put(root);
        return rc;
    }
    /* Into 'doc' in place: its keys replaced by the patched ones. */
    size_t nk = (size_t)json_object_object_length(doc), k = 0;
    char **keys = calloc(nk > 0 ? nk : 1, sizeof(char *));
    if (keys == NULL) {
        json_object_put(root);
        return fhir_error_set(e, 500, "exception", "", "out of memory");
    }
    json_object_object_foreach(doc, key, val)
    {
        (void)val;
        keys[k++] = strdup(key);
    }
    for (size_t i = 0; i < k; i++) {
        if (keys[i] != NULL)
            json_object_object_del(doc, keys[i]);
        free(keys[i]);
    }
    free(keys);
    json_object_object_foreach(root, key2, val2)
        json_object_object_add(doc, key2, json_object_get(val2));
    json_object_put(root);
    return KR_OK;
}
