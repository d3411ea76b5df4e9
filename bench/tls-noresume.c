/*
 * bench/tls-noresume.c — an LD_PRELOAD shim for the load tools of bench/tls.sh
 * (wrk, h2load) that makes every TLS connection a full handshake, and counts them.
 *
 * Why: both tools resume TLS sessions when they reconnect. wrk closes a connection
 * with SSL_shutdown + SSL_clear and reuses the SSL object, which keeps its session;
 * h2load reuses its SSL object after a clean shutdown. Against a server that issues
 * tickets (nginx, HAProxy and rustls all do by default), 96-98 % of "new connections"
 * were resumptions (nginx's $ssl_session_reused, measured 2026-12-07), which is not a
 * measure of full handshakes. Here the session is dropped (SSL_set_session(ssl, NULL))
 * whenever a tool readies an SSL object for a new connection (SSL_clear for wrk,
 * SSL_set_connect_state for h2load), so the next handshake offers no session/PSK.
 *
 * TLS_NORESUME_COUNT_ONLY=1 leaves sessions alone and only counts: bench/tls.sh runs
 * it once to show that the tool would resume and that the count sees it.
 *
 * Counting: each completed client handshake (SSL_connect / SSL_do_handshake
 * returning 1) is counted, and so is each one that was a resumption
 * (SSL_session_reused). At exit "handshakes N resumed M" is written to the file
 * named by $TLS_NORESUME_STATS (when set), so the bench can check per run that
 * every handshake was a full one (M = 0) and how many requests each carried.
 *
 * Build: cc -shared -fPIC -O2 -o tls-noresume.so tls-noresume.c -ldl
 * (no OpenSSL headers needed: the few prototypes are declared below; the symbols
 * resolve to the tool's own libssl at run time).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;
int SSL_set_session(SSL *s, SSL_SESSION *session);
int SSL_session_reused(const SSL *s);

static unsigned long handshakes, resumed;
static __thread int inside; /* SSL_connect may call SSL_do_handshake: count once */

static void *next(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        fprintf(stderr, "tls-noresume: no %s in the process\n", name);
        abort();
    }
    return f;
}

static void forget(SSL *s) {
    static int count_only = -1;
    if (count_only < 0) {
        const char *v = getenv("TLS_NORESUME_COUNT_ONLY");
        count_only = v && *v && *v != '0';
    }
    if (!count_only) SSL_set_session(s, NULL);
}

static void count(SSL *s, int rc) {
    if (rc == 1) {
        __atomic_add_fetch(&handshakes, 1, __ATOMIC_RELAXED);
        if (SSL_session_reused(s)) __atomic_add_fetch(&resumed, 1, __ATOMIC_RELAXED);
    }
}

int SSL_clear(SSL *s) {
    static int (*real)(SSL *);
    if (!real) real = (int (*)(SSL *))next("SSL_clear");
    int rc = real(s);
    forget(s);
    return rc;
}

void SSL_set_connect_state(SSL *s) {
    static void (*real)(SSL *);
    if (!real) real = (void (*)(SSL *))next("SSL_set_connect_state");
    real(s);
    forget(s);
}

int SSL_connect(SSL *s) {
    static int (*real)(SSL *);
    if (!real) real = (int (*)(SSL *))next("SSL_connect");
    inside++;
    int rc = real(s);
    inside--;
    count(s, rc);
    return rc;
}

int SSL_do_handshake(SSL *s) {
    static int (*real)(SSL *);
    if (!real) real = (int (*)(SSL *))next("SSL_do_handshake");
    int rc = real(s);
    if (!inside) count(s, rc);
    return rc;
}

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("TLS_NORESUME_STATS");
    if (!path || !*path) return;
    FILE *f = fopen(path, "w");
    if (!f) return;
    fprintf(f, "handshakes %lu resumed %lu\n", handshakes, resumed);
    fclose(f);
}
