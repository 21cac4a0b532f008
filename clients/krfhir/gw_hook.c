/* gw_hook.c - the rest-hook's HTTP client, on libcurl.
 *
 * The only module of krfhir that speaks to libcurl: it turns curl's codes
 * into ours, once, with a message that names the real cause. One client
 * (one easy handle) belongs to the notifier thread, its only caller, and
 * keeps its connection to the endpoint open between notifications (HTTP
 * keep-alive): a notification then costs one round trip, not a TCP (and
 * TLS) handshake each. http:// and https:// only, no redirects followed
 * (a 3xx is a failed attempt like any other non-2xx), peer and host
 * verification always on: a CA file replaces the system's CAs, nothing
 * turns the check off. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "gw.h"
#include "util.h"

/* The endpoint's answer is read and dropped; an answer body longer than
 * this is cut off (the status counts, the connection is not kept). */
#define S_BODY_MAX (64 * 1024)

struct gw_hook {
    CURL *curl;                       /* the easy handle: its connection
                                         cache holds the kept connection */
    struct curl_slist *headers;       /* Content-Type, Expect:, the
                                         configured header */
    int timeout_ms;                   /* bound on one exchange */
    size_t body_got;                  /* bytes of the current answer */
    bool body_cut;                    /* the answer was over S_BODY_MAX */
    char errbuf[CURL_ERROR_SIZE + 1]; /* curl's words for the last error */
};

int
gw_hook_global_init(void)
{
    CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);

    if (c != CURLE_OK) {
        fprintf(stderr, "krfhir: libcurl: %s\n", curl_easy_strerror(c));
        return KR_ESYS;
    }
    return KR_OK;
}

void
gw_hook_global_fini(void)
{
    curl_global_cleanup();
}

int
gw_hook_check_url(const char *url, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = KR_ECONFIG;

    if (u == NULL) {
        snprintf(err, errlen, "out of memory");
        return KR_ENOMEM;
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        snprintf(err, errlen, "'%s' is not an http:// or https:// URL", url);
        goto done;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        host[0] == '\0') {
        snprintf(err, errlen, "'%s' has no host", url);
        goto done;
    }
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK &&
        strcmp(port, "0") == 0) {
        snprintf(err, errlen, "'%s' has port 0", url);
        goto done;
    }
    if (strlen(url) >= GW_URL_MAX) {
        snprintf(err, errlen, "longer than %d bytes", GW_URL_MAX - 1);
        goto done;
    }
    rc = KR_OK;
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

/* The answer's body: counted and dropped. Returning less than given makes
 * curl stop the transfer (CURLE_WRITE_ERROR). */
static size_t
s_body(char *data, size_t size, size_t n, void *arg)
{
    struct gw_hook *h = arg;

    (void)data;
    h->body_got += size * n;
    if (h->body_got > S_BODY_MAX) {
        h->body_cut = true;
        return 0;
    }
    return size * n;
}

int
gw_hook_new(const char *url, const char *header, const char *ca_file,
            int timeout_ms, struct gw_hook **out, char *err, size_t errlen)
{
    struct gw_hook *h = xcalloc(1, sizeof(*h));
    struct curl_slist *l;
    CURLcode c = CURLE_OK;
    int rc = KR_ENOMEM;

    *out = NULL;
    if ((rc = gw_hook_check_url(url, err, errlen)) != KR_OK)
        goto fail;
    rc = KR_ENOMEM;
    if ((h->curl = curl_easy_init()) == NULL) {
        snprintf(err, errlen, "libcurl: cannot make a handle");
        goto fail;
    }
    h->timeout_ms = timeout_ms;
    /* "Expect:" (empty) keeps curl from waiting for a 100 Continue before
     * a body over 1 KiB: a round trip the notification does not need. */
    if ((l = curl_slist_append(NULL, "Content-Type: application/fhir+json")) ==
        NULL)
        goto oom;
    h->headers = l;
    if ((l = curl_slist_append(h->headers, "Expect:")) == NULL)
        goto oom;
    if (header != NULL && header[0] != '\0' &&
        (l = curl_slist_append(h->headers, header)) == NULL)
        goto oom;

#define S_SET(opt, val)                                                        \
    do {                                                                       \
        if (c == CURLE_OK)                                                     \
            c = curl_easy_setopt(h->curl, opt, val);                           \
    } while (0)
    S_SET(CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 */
    S_SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    S_SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    S_SET(CURLOPT_FOLLOWLOCATION, 0L);
    /* Threads: no signals (a timeout must not be a SIGALRM). */
    S_SET(CURLOPT_NOSIGNAL, 1L);
    S_SET(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    S_SET(CURLOPT_HTTPHEADER, h->headers);
    S_SET(CURLOPT_USERAGENT, "krfhir");
    S_SET(CURLOPT_POST, 1L);
    S_SET(CURLOPT_WRITEFUNCTION, s_body);
    S_SET(CURLOPT_WRITEDATA, h);
    S_SET(CURLOPT_ERRORBUFFER, h->errbuf);
    S_SET(CURLOPT_TCP_NODELAY, 1L);
    S_SET(CURLOPT_SSL_VERIFYPEER, 1L);
    S_SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_file != NULL && ca_file[0] != '\0') {
        /* Instead of the system's CAs, not in addition to them: the
         * directory of CAs built into libcurl is dropped too. */
        S_SET(CURLOPT_CAINFO, ca_file);
        S_SET(CURLOPT_CAPATH, (char *)NULL);
    }
#undef S_SET
    if (c != CURLE_OK) {
        snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(c));
        rc = KR_ECONFIG;
        goto fail;
    }
    *out = h;
    return KR_OK;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    gw_hook_destroy(&h);
    return rc;
}

void
gw_hook_destroy(struct gw_hook **hp)
{
    struct gw_hook *h = *hp;

    if (h == NULL)
        return;
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl); /* closes the kept connection */
    curl_slist_free_all(h->headers);
    free(h);
    *hp = NULL;
}

/* curl's error as ours: a code and a message that names the cause. */
static int
s_error(struct gw_hook *h, CURLcode c, char *err, size_t errlen)
{
    long os_errno = 0;
    curl_off_t ready_us = 0;
    const char *words = h->errbuf[0] ? h->errbuf : curl_easy_strerror(c);

    curl_easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &os_errno);
    switch (c) {
    case CURLE_COULDNT_CONNECT:
        /* curl says "Couldn't connect to server"; errno says why. */
        if (os_errno != 0)
            snprintf(err, errlen, "connect: %s", strerror((int)os_errno));
        else
            snprintf(err, errlen, "connect: %s", words);
        return KR_EUNAVAIL;
    case CURLE_OPERATION_TIMEDOUT:
        /* Whether the request went out: the pre-transfer time is set on
         * a kept connection too (the connect time is 0 there). */
        curl_easy_getinfo(h->curl, CURLINFO_PRETRANSFER_TIME_T, &ready_us);
        snprintf(err, errlen, "no %s within %d ms",
                 ready_us > 0 ? "answer" : "connection", h->timeout_ms);
        return KR_ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(err, errlen, "cannot resolve the host: %s", words);
        return KR_EUNAVAIL;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
        snprintf(err, errlen, "TLS: %s", words);
        return KR_ECRYPTO;
    case CURLE_GOT_NOTHING:
        snprintf(err, errlen, "the connection closed without an answer");
        return KR_EUNAVAIL;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
        snprintf(err, errlen, "the answer is not HTTP: %s", words);
        return KR_EPROTO;
    case CURLE_WRITE_ERROR:
        if (!h->body_cut)
            break;
        snprintf(err, errlen,
                 "the answer's body is over %d bytes, and no status came "
                 "with it",
                 S_BODY_MAX);
        return KR_EPROTO;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        if (os_errno != 0)
            snprintf(err, errlen, "connection: %s", strerror((int)os_errno));
        else
            snprintf(err, errlen, "connection: %s", words);
        return KR_EUNAVAIL;
    default:
        break;
    }
    snprintf(err, errlen, "%s", words);
    return KR_EUNAVAIL;
}

int
gw_hook_post(struct gw_hook *h, const char *body, size_t len, char *err,
             size_t errlen)
{
    long status = 0;
    CURLcode c;

    h->errbuf[0] = '\0';
    h->body_got = 0;
    h->body_cut = false;
    if (curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)len) != CURLE_OK) {
        snprintf(err, errlen, "libcurl: cannot set the body");
        return KR_ENOMEM;
    }
    c = curl_easy_perform(h->curl);
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    /* An answer cut off for its size still said its status: it counts
     * (curl closes that connection; the next post opens another). */
    if (c == CURLE_WRITE_ERROR && h->body_cut && status >= 100)
        c = CURLE_OK;
    if (c != CURLE_OK)
        return s_error(h, c, err, errlen);
    if (status < 100 || status > 599) {
        snprintf(err, errlen, "the answer is not HTTP");
        return KR_EPROTO;
    }
    return (int)status;
}

int
gw_http_post(const char *url, const char *header, const char *body, size_t len,
             int timeout_ms, char *err, size_t errlen)
{
    struct gw_hook *h = NULL;
    int rc = gw_hook_new(url, header, "", timeout_ms, &h, err, errlen);

    if (rc != KR_OK)
        return rc == KR_ECONFIG ? KR_EINVAL : rc;
    rc = gw_hook_post(h, body, len, err, errlen);
    gw_hook_destroy(&h);
    return rc;
}
