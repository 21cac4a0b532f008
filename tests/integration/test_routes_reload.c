/*
 * test_routes_reload.c - the coalition changes its routes while the broker
 * runs: SIGHUP reads the routes file again. A file that checks is taken
 * (`krctl routes` shows it); one with a bad line refuses the whole reload,
 * naming file and line, and the routes loaded before stay. The broker
 * never stops for it.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "harness.h"

static struct h_cluster s_c;

static const char s_one[] = "[route prenataal-huisbezoek]\n"
                            "from = verloskunde\n"
                            "to = jgz\n"
                            "data_category = medisch\n"
                            "legal_basis = consent\n"
                            "t_ack = 1 workday\n";

static const char s_two[] = "[route prenataal-huisbezoek]\n"
                            "from = verloskunde\n"
                            "to = jgz\n"
                            "data_category = medisch\n"
                            "legal_basis = consent\n"
                            "t_ack = 1 workday\n"
                            "\n"
                            "[route ondersteuning-wijkteam]\n"
                            "from = verloskunde, jgz\n"
                            "to = wijkteam\n"
                            "data_category = sociaal\n"
                            "legal_basis = consent\n"
                            "t_ack = 2 workdays\n";

static const char s_bad[] = "[route prenataal-huisbezoek]\n"
                            "from = verloskunde\n"
                            "to = nowhere-category\n";

/* How many routes `krctl routes --json` lists; -1 if it fails. */
static int
s_routes(void)
{
    struct h_run r;
    int n = -1;

    h_krctl(&r, "--admin", s_c.admin, "routes", "--json", NULL);
    json_object *o = r.code == 0 ? json_tokener_parse(r.out) : NULL;
    json_object *a = o != NULL ? h_json_path(o, "routes") : NULL;
    if (a != NULL && json_object_is_type(a, json_type_array))
        n = (int)json_object_array_length(a);
    json_object_put(o);
    h_run_free(&r);
    return n;
}

struct s_log {
    const char *needle;
};

static bool
s_logged(void *arg)
{
    return h_log_contains(s_c.broker_log, ((struct s_log *)arg)->needle);
}

static bool
s_two_routes(void *arg)
{
    (void)arg;
    return s_routes() == 2;
}

int
main(void)
{
    char path[H_PATH + 64];

    h_init("routes_reload", 90);
    h_cluster_init(&s_c, "routes_reload");
    snprintf(path, sizeof(path), "%s/routes.ini", s_c.tmp);
    H_ENSURE(h_write_file(path, s_one, 0644) == KR_OK, "write %s", path);
    h_broker_set(&s_c, "routes", path);
    h_broker_start(&s_c);
    H_CHECK(s_routes() == 1, "krctl routes: the one route of the file");

    H_ENSURE(h_write_file(path, s_two, 0644) == KR_OK, "rewrite %s", path);
    H_ENSURE(kill(s_c.broker.pid, SIGHUP) == 0, "SIGHUP to the broker");
    H_CHECK(h_wait_until(s_two_routes, NULL, 10000) == 0,
            "after SIGHUP krctl routes lists the two routes of the new file");
    struct s_log taken = {"routes reloaded"};
    H_CHECK(h_wait_until(s_logged, &taken, 5000) == 0,
            "the broker logs that it took the new routes");

    H_ENSURE(h_write_file(path, s_bad, 0644) == KR_OK, "write a bad %s", path);
    H_ENSURE(kill(s_c.broker.pid, SIGHUP) == 0, "SIGHUP to the broker");
    struct s_log refused = {"routes.ini:3:"};
    H_CHECK(h_wait_until(s_logged, &refused, 10000) == 0,
            "a bad routes file: the reload is refused naming routes.ini:3");
    H_CHECK(s_routes() == 2, "the two routes loaded before stay");
    H_CHECK(h_proc_alive(&s_c.broker), "the broker still runs");
    return h_finish(&s_c);
}
