/*
 * test_link_cause.c - a node names the real cause when its handshake with
 * the broker fails.
 *
 * 1. A broker that stops in the middle of a handshake (here: a listener
 *    that answers the ZMTP greeting, reads the node's CURVE HELLO and
 *    closes, then goes away while the real broker starts on its port) is
 *    a warning that the broker closed the connection; the node does not
 *    blame its broker_key, and it connects once the broker is back.
 * 2. A wrong broker_key (another organisation's public key file): the
 *    broker cannot read the node's HELLO and closes every handshake; after
 *    a few in a row, with the broker accepting connections, the node says
 *    at error level that broker_key must be wrong.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define S_VL_ORG "ura:00001234"
#define S_JGZ_ORG "ura:00005678"
#define S_KEY_BLAME "is broker_key the broker's key?"
#define S_CUT_OFF " warn krnode: link: handshake cut off"
#define S_BLAME_LINE " error krnode: link: handshake failed again and again"

/* Read what arrives on 'fd' until 'want' bytes or the deadline. */
static size_t
s_read_some(int fd, size_t want, uint64_t deadline)
{
    uint8_t buf[512];
    size_t got = 0;

    while (got < want && h_mono_ms() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* Listen on the broker's port, take one connection, answer its greeting
 * as a CURVE server would, read its HELLO, and close everything: a broker
 * that died in the middle of the handshake. */
static bool
s_cut_one_handshake(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    int one = 1, lfd, fd = -1;
    bool ok = false;
    uint8_t greeting[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 3, 0};

    memcpy(greeting + 12, "CURVE", 5);
    greeting[32] = 1; /* as-server */
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return false;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(lfd, 4) != 0) {
        h_note("fake broker: bind 127.0.0.1:%d: %s", port, strerror(errno));
        goto done;
    }
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, h_scale(15000)) <= 0) {
        h_note("fake broker: the node did not connect");
        goto done;
    }
    if ((fd = accept(lfd, NULL, NULL)) < 0)
        goto done;
    if (write(fd, greeting, sizeof(greeting)) != (ssize_t)sizeof(greeting))
        goto done;
    /* The node's greeting (64 bytes) and at least the start of its HELLO
     * command: the handshake is under way when the "broker" goes. */
    ok = s_read_some(fd, 64 + 32, h_mono_ms() + h_scale(5000)) >= 64 + 32;
    if (!ok)
        h_note("fake broker: the node's greeting and HELLO did not come");
done:
    if (fd >= 0)
        close(fd);
    close(lfd);
    return ok;
}

struct s_log_wait {
    const char *log, *needle;
};

static bool
s_log_has(void *arg)
{
    struct s_log_wait *w = arg;

    return h_log_contains(w->log, w->needle);
}

int
main(void)
{
    static struct h_cluster c;
    char wrong[H_PATH + 32];

    h_init("link_cause", 120);
    h_cluster_init(&c, "link_cause");
    /* Keys and directory entries need the broker; it then stops, so that
     * the first node meets a "broker" that dies mid-handshake. */
    h_broker_start(&c);
    int vl = h_org_add(&c, "vl", S_VL_ORG, "verloskunde",
                       "Verloskundigenpraktijk De Wieg");
    int jgz = h_org_add(&c, "jgz", S_JGZ_ORG, "jgz", "JGZ Utrecht");
    H_REQUIRE(h_broker_stop(&c), "the broker stops cleanly");

    h_note("== 1. the broker stops in the middle of a handshake");
    h_node_start(&c, vl);
    H_CHECK(s_cut_one_handshake(c.port),
            "the node's handshake is cut off after its HELLO");
    struct s_log_wait cut = {c.nodes[vl].log, S_CUT_OFF};
    H_CHECK(h_wait_until(s_log_has, &cut, 10000) == 0,
            "the node warns that the broker closed the handshake");
    h_broker_start(&c);
    H_CHECK(h_node_wait_connected(&c, vl, H_CONNECT_MS),
            "the node connects once the broker is back");
    H_CHECK(!h_log_contains(c.nodes[vl].log, S_KEY_BLAME),
            "the node did not blame its broker_key for one cut handshake");

    h_note("== 2. a wrong broker_key");
    /* Another organisation's public key file: a valid key, the wrong
     * one. */
    h_public_path(c.nodes[vl].keys, wrong, sizeof(wrong));
    h_node_set(&c, jgz, "broker_key", wrong);
    h_node_start(&c, jgz);
    struct s_log_wait blame = {c.nodes[jgz].log, S_KEY_BLAME};
    H_CHECK(h_wait_until(s_log_has, &blame, 30000) == 0,
            "the node says \"%s\" once its handshakes fail in a row",
            S_KEY_BLAME);
    H_CHECK(h_log_contains(c.nodes[jgz].log, S_BLAME_LINE), "at error level");
    return h_finish(&c);
}
