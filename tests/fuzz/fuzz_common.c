/* fuzz_common.c - see fuzz_common.h. */
#include "fuzz_common.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

const char *const fz_org_ids[FZ_NORGS] = {
    "ura:00000001", /* verloskunde */
    "ura:00000002", /* jgz: the node target's own */
    "kvk:00000003", /* veilig thuis */
    "ura:00000004", /* suspended */
};
const int fz_org_categories[FZ_NORGS] = {
    KR__V1__ORG_CATEGORY__VERLOSKUNDE,
    KR__V1__ORG_CATEGORY__JGZ,
    KR__V1__ORG_CATEGORY__VEILIG_THUIS,
    KR__V1__ORG_CATEGORY__KRAAMZORG,
};

uint8_t
fz_u8(struct fz *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

uint16_t
fz_u16(struct fz *in)
{
    uint16_t lo = fz_u8(in);

    return (uint16_t)(lo | (uint16_t)fz_u8(in) << 8);
}

const uint8_t *
fz_bytes(struct fz *in, size_t *len)
{
    size_t want = fz_u16(in);
    const uint8_t *p = in->p;

    *len = want < in->n ? want : in->n;
    in->p += *len;
    in->n -= *len;
    return p;
}

void
fz_put_u8(struct fz_out *o, uint8_t v)
{
    if (o->len == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 256;
        o->data = xrealloc(o->data, o->cap);
    }
    o->data[o->len++] = v;
}

void
fz_put_bytes(struct fz_out *o, const void *p, size_t len)
{
    fz_put_u8(o, (uint8_t)(len & 0xff));
    fz_put_u8(o, (uint8_t)(len >> 8));
    for (size_t i = 0; i < len; i++)
        fz_put_u8(o, ((const uint8_t *)p)[i]);
}

static char s_dir[256];

static void
s_remove_dir(void)
{
    if (s_dir[0] != '\0') {
        fz_clear_dir(s_dir);
        rmdir(s_dir);
    }
}

void
fz_init(void)
{
    const char *lvl = getenv("FUZZ_LOG");
    const char *tmp = getenv("TMPDIR");
    struct stat st;

    if (s_dir[0] != '\0')
        return;
    /* Debug by default, so that every log line's formatting of what the
     * input holds runs too; the scripts close the targets' stderr
     * (-close_fd_mask=2: libFuzzer still reports). FUZZ_LOG=none is
     * faster. */
    log_init("fuzz", lvl != NULL && strcmp(lvl, "none") == 0
                         ? (enum log_level)(LOG_LEVEL_ERROR + 1)
                         : LOG_LEVEL_DEBUG);
    if (kcrypto_init() != 0)
        abort();
    /* A memory file system if there is one: the targets commit to LMDB
     * on every input. */
    if (tmp == NULL)
        tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm"
                                                                : "/tmp";
    snprintf(s_dir, sizeof(s_dir), "%s/krfuzz.XXXXXX", tmp);
    if (mkdtemp(s_dir) == NULL) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(s_remove_dir);
}

const char *
fz_dir(void)
{
    return s_dir;
}

void
fz_clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (unlink(path) != 0) {
            fz_clear_dir(path);
            rmdir(path);
        }
    }
    closedir(d);
}

int
fz_write_file(const char *path, const void *data, size_t len, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    if (fd < 0)
        return -1;
    fchmod(fd, mode);
    ssize_t n = len > 0 ? write(fd, data, len) : 0;
    close(fd);
    return n == (ssize_t)len ? 0 : -1;
}

kr_keys_t *
fz_keys(int i)
{
    kr_keys_t *k = NULL;
    uint8_t seed[32], h[32];

    if (kcrypto_keys_generate(&k) != 0)
        abort();
    memset(seed, 0xa0 + i, sizeof(seed));
    crypto_generichash(h, 32, seed, 32, (const uint8_t *)"curve", 5);
    memcpy(k->curve_secret, h, 32);
    crypto_scalarmult_base(k->pub.curve, k->curve_secret);
    crypto_generichash(h, 32, seed, 32, (const uint8_t *)"box", 3);
    memcpy(k->box_secret, h, 32);
    crypto_scalarmult_base(k->pub.box, k->box_secret);
    crypto_sign_seed_keypair(k->pub.sign, k->sign_secret, seed);
    return k;
}

const Kr__V1__OrgEntry *
fz_org_entry(int i)
{
    static Kr__V1__OrgEntry e[FZ_NORGS];
    static uint8_t keys[FZ_NORGS][3][32];
    static char names[FZ_NORGS][32];
    static bool made[FZ_NORGS];

    if (!made[i]) {
        kr_keys_t *k = fz_keys(i);
        kr__v1__org_entry__init(&e[i]);
        memcpy(keys[i][0], k->pub.curve, 32);
        memcpy(keys[i][1], k->pub.box, 32);
        memcpy(keys[i][2], k->pub.sign, 32);
        kcrypto_keys_destroy(&k);
        snprintf(names[i], sizeof(names[i]), "Fuzz org %d", i);
        e[i].org_id = (char *)fz_org_ids[i];
        e[i].category = fz_org_categories[i];
        e[i].name = names[i];
        e[i].curve_public = (ProtobufCBinaryData){32, keys[i][0]};
        e[i].box_public = (ProtobufCBinaryData){32, keys[i][1]};
        e[i].sign_public = (ProtobufCBinaryData){32, keys[i][2]};
        e[i].suspended = i == 3;
        e[i].added_at_ms = e[i].changed_at_ms = FZ_NOW_MS;
        made[i] = true;
    }
    return &e[i];
}
