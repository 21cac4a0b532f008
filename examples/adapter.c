/*
 * adapter.c - a minimal adapter on libkr's JSON layer (include/kr.h): it
 * sends a message description to its organisation's krnode, lists the
 * inbox and the receipts, and marks an item processed. Every JSON form is
 * in docs/JSON.md.
 *
 * Build it against the installed library (cmake --install puts kr.h,
 * libkr.so and libkr.pc in place):
 *
 *     cc -o adapter adapter.c $(pkg-config --cflags --libs libkr)
 *
 * Run it next to a krnode:
 *
 *     ./adapter send ipc:///var/lib/krnode/node.sock referral.json
 *     ./adapter inbox ipc:///var/lib/krnode/node.sock 5000
 *     ./adapter receipts ipc:///var/lib/krnode/node.sock
 *     ./adapter processed ipc:///var/lib/krnode/node.sock MSG_ID
 *
 * Exit status: 0 done, 1 refused or failed, 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kr.h>

static char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL ||
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        free(buf);
        buf = NULL;
    } else {
        *len = (size_t)n;
    }
    if (f != NULL)
        fclose(f);
    return buf;
}

int
main(int argc, char **argv)
{
    char err[512], msg_id[KR_MSG_ID_HEX_LEN], *json = NULL, *text;
    kr_client_t *c = NULL;
    size_t len = 0;
    int rc;

    if (argc < 3) {
        fprintf(stderr, "usage: adapter send|inbox|receipts|processed "
                        "ENDPOINT [FILE.json | WAIT_MS | MSG_ID]\n");
        return 2;
    }
    /* One client per thread; every call below is bounded by 10 s. */
    if ((rc = kr_client_connect(argv[2], 10000, &c)) != KR_OK) {
        fprintf(stderr, "adapter: %s: %s\n", argv[2], kr_strerror(rc));
        return 2;
    }
    if (strcmp(argv[1], "send") == 0 && argc == 4) {
        if ((text = read_file(argv[3], &len)) == NULL) {
            kr_client_destroy(&c);
            return 1;
        }
        /* The msg_id derives from the organisation and the bytes: after a
         * timeout, the same call again is the same message. */
        rc = kr_send_json(c, text, len, msg_id, err, sizeof(err));
        free(text);
        if (rc == KR_OK)
            printf("%s\n", msg_id);
    } else if (strcmp(argv[1], "inbox") == 0) {
        unsigned long wait = argc > 3 ? strtoul(argv[3], NULL, 10) : 0;
        rc = kr_inbox_json(c, 0, 0, wait > 60000 ? 60000 : (uint32_t)wait, 0,
                           &json, &len, err, sizeof(err));
    } else if (strcmp(argv[1], "receipts") == 0) {
        rc = kr_receipts_json(c, 0, 0, &json, &len, err, sizeof(err));
    } else if (strcmp(argv[1], "processed") == 0 && argc == 4) {
        rc = kr_processed(c, argv[3], err, sizeof(err));
    } else {
        fprintf(stderr, "adapter: unknown command or missing argument\n");
        kr_client_destroy(&c);
        return 2;
    }
    if (rc != KR_OK)
        fprintf(stderr, "adapter: %s: %s\n", kr_strerror(rc), err);
    else if (json != NULL)
        printf("%s\n", json);
    kr_json_free(json);
    kr_client_destroy(&c);
    return rc == KR_OK ? 0 : 1;
}
