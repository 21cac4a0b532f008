/*
 * fuzz_config.c - the configuration parsers: the INI reader of
 * common/config.c with the broker's table (broker/config.c) and the
 * node's (clients/krnode/config.c, with node_config_check), and the
 * command-line parser, as the daemons call them at start.
 *
 * Input: a selector byte, then:
 *   0  a broker configuration file      1  a node configuration file
 *   2  a broker command line, its arguments separated by NUL bytes
 *   3  a node command line, likewise
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "fuzz_common.h"
#include "node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz in = {data, size};
    uint8_t sel = fz_u8(&in);
    bool node = sel & 1;
    const struct cfg_option *opts =
        node ? node_config_options : broker_config_options;
    struct broker_config bc;
    struct node_config nc;
    void *base = node ? (void *)&nc : (void *)&bc;
    const char *section = node ? "node" : "broker";
    char err[512], path[512];

    fz_init();
    memset(&bc, 0, sizeof(bc));
    memset(&nc, 0, sizeof(nc));
    if (cfg_defaults(opts, base, err, sizeof(err)) != 0)
        abort();
    if ((sel & 2) == 0) {
        snprintf(path, sizeof(path), "%s/fuzz.ini", fz_dir());
        if (fz_write_file(path, in.p, in.n, 0600) != 0)
            abort();
        if (cfg_load_file(path, section, opts, base, err, sizeof(err)) == 0 &&
            cfg_check_required(opts, base, err, sizeof(err)) == 0 && node)
            node_config_check(&nc, err, sizeof(err));
    } else {
        /* argv: the program's name, then the input's NUL-separated
         * strings (at most 64). */
        char *copy = xmalloc(in.n + 1);
        char *argv[66];
        int argc = 0;
        memcpy(copy, in.p, in.n);
        copy[in.n] = '\0';
        argv[argc++] = node ? "krnode" : "krbroker";
        for (size_t i = 0; i <= in.n && argc < 65;) {
            argv[argc++] = copy + i;
            i += strlen(copy + i) + 1;
        }
        argv[argc] = NULL;
        /* A file named by -c or --config= is always ours: the input must
         * not make the target read a FIFO or a terminal, and wait. */
        static char cpath[600], carg[620];
        snprintf(cpath, sizeof(cpath), "%s/fuzz-args.ini", fz_dir());
        snprintf(carg, sizeof(carg), "--config=%s", cpath);
        const char *text =
            node ? "[node]\nwindow = 8\n" : "[broker]\nwindow = 8\n";
        if (fz_write_file(cpath, text, strlen(text), 0600) != 0)
            abort();
        for (int i = 1; i < argc; i++) {
            if ((strcmp(argv[i], "-c") == 0 ||
                 strcmp(argv[i], "--config") == 0) &&
                i + 1 < argc)
                argv[++i] = cpath;
            else if (strncmp(argv[i], "--config=", 9) == 0)
                argv[i] = carg;
        }
        if (cfg_parse_args(argc, argv, section, opts, base, err, sizeof(err)) ==
                0 &&
            cfg_check_required(opts, base, err, sizeof(err)) == 0 && node)
            node_config_check(&nc, err, sizeof(err));
        free(copy);
    }
    cfg_free(opts, base);
    return 0;
}
