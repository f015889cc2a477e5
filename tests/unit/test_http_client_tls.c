/* Unit tests for the HTTP client's TLS peer verification: a blocking OpenSSL server on its own
 * thread presents a certificate made at test time (self-signed, for 127.0.0.1 or for another
 * name), and the client on the test thread's loop must refuse it unless the configured CA file
 * vouches for it and the name matches. A refused handshake is "not sent". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include "http_client.h"
#include "log.h"

struct tls_srv {
    int lfd, port;
    SSL_CTX *ctx;
    pthread_t th;
    char ca_path[64];
    /* written by the server thread, read after join */
    int handshake_ok, served;
};

/* A P-256 key and a self-signed certificate whose only name is san ("IP:127.0.0.1", say). */
static void make_cert(const char *san, EVP_PKEY **key, X509 **cert)
{
    X509V3_CTX v3;
    *key = EVP_EC_gen("P-256");
    assert_non_null(*key);
    *cert = X509_new();
    assert_non_null(*cert);
    assert_int_equal(X509_set_version(*cert, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(*cert), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(*cert), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(*cert), 3600));
    X509_NAME *name = X509_get_subject_name(*cert);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"intentd test", -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(*cert, name), 1);
    assert_int_equal(X509_set_pubkey(*cert, *key), 1);
    X509V3_set_ctx(&v3, *cert, *cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(*cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(*cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(*cert, *key, EVP_sha256()) > 0);
}

/* Serves one connection: the handshake, one request, one response. */
static void *serve_one(void *arg)
{
    struct tls_srv *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    SSL *ssl = SSL_new(s->ctx);
    if (ssl && SSL_set_fd(ssl, fd) == 1 && SSL_accept(ssl) == 1) {
        char buf[4096];
        size_t len = 0;
        s->handshake_ok = 1;
        while (len < sizeof buf - 1) {
            int n = SSL_read(ssl, buf + len, (int)(sizeof buf - 1 - len));
            if (n <= 0)
                break;
            len += (size_t)n;
            buf[len] = '\0';
            if (strstr(buf, "\r\n\r\n")) {
                const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\n"
                                "secure";
                s->served = SSL_write(ssl, r, (int)strlen(r)) > 0;
                SSL_shutdown(ssl);
                break;
            }
        }
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    return NULL;
}

static struct tls_srv *tls_start(const char *san)
{
    struct tls_srv *s = calloc(1, sizeof *s);
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    struct timeval tv = {.tv_sec = 10};
    EVP_PKEY *key;
    X509 *cert;
    assert_non_null(s);
    make_cert(san, &key, &cert);
    s->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(s->ctx);
    assert_int_equal(SSL_CTX_use_certificate(s->ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, key), 1);
    snprintf(s->ca_path, sizeof s->ca_path, "/tmp/intentd-test-ca-XXXXXX");
    int cfd = mkstemp(s->ca_path);
    assert_true(cfd >= 0);
    FILE *f = fdopen(cfd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, cert), 1);
    assert_int_equal(fclose(f), 0);
    X509_free(cert);
    EVP_PKEY_free(key);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->lfd >= 0);
    /* accept() gives up after 10 s, so a client that never connects cannot hang the test */
    assert_int_equal(setsockopt(s->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->lfd, 8), 0);
    assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &len), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->th, NULL, serve_one, s), 0);
    return s;
}

/* Joins the server thread and frees it; *served says whether it answered a request. */
static void tls_stop(struct tls_srv *s, int *served)
{
    assert_int_equal(pthread_join(s->th, NULL), 0);
    *served = s->served;
    close(s->lfd);
    SSL_CTX_free(s->ctx);
    unlink(s->ca_path);
    free(s);
}

struct result {
    int calls;
    enum http_outcome outcome;
    long status;
    char body[64], error[512];
};

static void on_resp(void *arg, const struct http_client_resp *r)
{
    struct result *res = arg;
    res->calls++;
    res->outcome = r->outcome;
    res->status = r->status;
    snprintf(res->body, sizeof res->body, "%s", r->body ? r->body : "");
    snprintf(res->error, sizeof res->error, "%s", r->error ? r->error : "");
}

static void on_closed(void *arg)
{
    (*(int *)arg)++;
}

/* One POST to https://<host>:<port>/ through a fresh client with ca_file (or none). */
static void call_once(struct tls_srv *s, const char *host, const char *ca_file, struct result *res)
{
    uv_loop_t loop;
    struct http_client *c = NULL;
    struct http_client_config cfg = {.ca_file = ca_file};
    char err[256], url[128];
    int closed = 0;
    snprintf(url, sizeof url, "https://%s:%d/", host, s->port);
    struct http_client_req req = {
        .method = "POST", .url = url, .body = "x", .body_len = 1, .timeout_ms = 10000};
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(http_client_new(&loop, &cfg, &c, err, sizeof err), 0);
    assert_int_equal(http_client_send(c, &req, on_resp, res), 0);
    while (!res->calls)
        assert_true(uv_run(&loop, UV_RUN_ONCE) != 0 || res->calls);
    http_client_close(c, on_closed, &closed);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(closed, 1);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(res->calls, 1);
}

static void trusted_certificate_for_the_host_is_accepted(void **state)
{
    struct tls_srv *s = tls_start("IP:127.0.0.1");
    struct result res = {0};
    int served;
    (void)state;
    call_once(s, "127.0.0.1", s->ca_path, &res);
    tls_stop(s, &served);
    assert_true(served);
    if (res.outcome != HTTP_RESPONSE || getenv("HTTP_TEST_LOG"))
        print_error("%s\n", res.error);
    assert_int_equal(res.outcome, HTTP_RESPONSE);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.body, "secure");
}

static void untrusted_certificate_is_not_sent(void **state)
{
    struct tls_srv *s = tls_start("IP:127.0.0.1");
    struct result res = {0};
    int served;
    (void)state;
    call_once(s, "127.0.0.1", NULL, &res);
    tls_stop(s, &served);
    assert_false(served);
    if (getenv("HTTP_TEST_LOG"))
        print_error("%s\n", res.error);
    assert_int_equal(res.outcome, HTTP_NOT_SENT);
    assert_true(strlen(res.error) > 0);
}

static void certificate_for_another_name_is_not_sent(void **state)
{
    struct tls_srv *s = tls_start("DNS:other.example");
    struct result res = {0};
    int served;
    (void)state;
    call_once(s, "127.0.0.1", s->ca_path, &res);
    tls_stop(s, &served);
    assert_false(served);
    if (getenv("HTTP_TEST_LOG"))
        print_error("%s\n", res.error);
    assert_int_equal(res.outcome, HTTP_NOT_SENT);
    assert_true(strlen(res.error) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(trusted_certificate_for_the_host_is_accepted),
        cmocka_unit_test(untrusted_certificate_is_not_sent),
        cmocka_unit_test(certificate_for_another_name_is_not_sent),
    };
    int rc;
    signal(SIGPIPE, SIG_IGN);
    log_set_level(getenv("HTTP_TEST_LOG") ? LOG_DEBUG : LOG_WARN);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    http_client_global_cleanup();
    return rc;
}
