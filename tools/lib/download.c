// download.c: see download.h.
#include "download.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "staged.h"
#include "util.h"

void qb_dl_defaults(qb_dl_opts *o) {
    o->connect_timeout_s = 30;
    o->stall_s = 30;
    o->stall_bytes = 1024;
    o->retries = 4;
    o->retry_delay_s = 1.0;
    o->quiet = 0;
}

void qb_dl_global_init(void) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) qb_die(QB_EXIT_DATA, "libcurl: global initialisation failed");
}

// One attempt's state, shared with the write callback.
typedef struct {
    CURL *curl;
    qb_staged *st;
    curl_off_t resume_from;
    int seen_first_byte;
    int local_error; // a qb_staged code that stopped the transfer
    char local_err[512];
    qb_progress *prog;
    int64_t want_bytes;
} xfer;

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx) {
    xfer *x = ctx;
    size_t n = size * nmemb;
    if (!x->seen_first_byte) {
        x->seen_first_byte = 1;
        long code = 0;
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
        // A server that answers a range request with the whole file: start over.
        if (x->resume_from > 0 && code == 200) {
            int rc = qb_staged_restart(x->st, x->local_err, sizeof x->local_err);
            if (rc) {
                x->local_error = rc;
                return 0;
            }
        }
        if (x->prog->total <= 0) {
            curl_off_t len = -1;
            curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
            if (len > 0) x->prog->total = (double)(x->st->bytes + (uint64_t)len);
        }
    }
    int rc = qb_staged_write(x->st, data, n, x->local_err, sizeof x->local_err);
    if (rc) {
        x->local_error = rc;
        return 0; // makes curl stop with CURLE_WRITE_ERROR
    }
    qb_progress_update(x->prog, (double)x->st->bytes);
    return n;
}

static int transient_http(long code) { return code == 408 || code == 429 || (code >= 500 && code <= 599); }

static int transient_curl(CURLcode c) {
    switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

qb_dl_status qb_download(const char *url, const char *dest, const char *want_sha, int64_t want_bytes, const char *label,
                         const qb_dl_opts *o, char got[65], char *err, size_t errlen) {
    CURL *curl = curl_easy_init();
    if (!curl) {
        snprintf(err, errlen, "libcurl: cannot create a transfer");
        return QB_DL_IOERR;
    }
    char curl_err[CURL_ERROR_SIZE];
    qb_dl_status status = QB_DL_NETWORK;
    double delay = o->retry_delay_s;
    int attempt = 0, fresh_retry_used = 0, force_fresh = 0;
    for (;;) {
        attempt++;
        qb_staged st;
        int rc = qb_staged_open(&st, dest, !force_fresh, want_bytes, err, errlen);
        force_fresh = 0;
        if (rc) {
            status = QB_DL_IOERR;
            break;
        }
        xfer x = {.curl = curl, .st = &st, .resume_from = (curl_off_t)st.bytes, .want_bytes = want_bytes};
        qb_progress prog;
        qb_progress_begin(&prog, label, want_bytes > 0 ? (double)want_bytes : 0, "B", o->quiet);
        x.prog = &prog;
        curl_err[0] = 0;
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https,file");
        curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"); // a redirect never reaches local files
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "qbench-fetch/1");
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, o->stall_s);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, o->stall_bytes);
        curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
        if (x.resume_from > 0) curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, x.resume_from);
        CURLcode cc = curl_easy_perform(curl);
        long code = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        prog.done = (double)st.bytes;

        if (cc == CURLE_OK) {
            rc = qb_staged_finish(&st, want_sha, want_bytes, got, err, errlen);
            if (rc == QB_STAGED_OK) {
                qb_progress_end(&prog); // the final bar or the summary line, once the digest matched
                status = QB_DL_OK;
                break;
            }
        }
        if (prog.tty && prog.last_draw > prog.t0) fputc('\n', stderr); // end the bar's line: messages follow
        if (cc == CURLE_OK) {
            if (rc == QB_STAGED_IOERR) {
                status = QB_DL_IOERR;
                break;
            }
            // A mismatch after resuming may be the old part's fault: once more from byte 0.
            if (x.resume_from > 0 && !fresh_retry_used) {
                fresh_retry_used = 1;
                force_fresh = 1;
                if (!o->quiet) qb_warn("%s: %s; the resumed part may be bad, downloading again from the start", url, err);
                continue;
            }
            status = QB_DL_MISMATCH;
            break;
        }
        if (x.local_error) { // our side stopped the transfer
            status = x.local_error == QB_STAGED_TOO_BIG ? QB_DL_MISMATCH : QB_DL_IOERR;
            snprintf(err, errlen, "%s", x.local_err);
            qb_staged_abandon(&st, 0);
            break;
        }
        if (cc == CURLE_HTTP_RETURNED_ERROR && code == 416 && x.resume_from > 0) {
            // Nothing left to send: the part may already be complete.
            if (want_sha || want_bytes >= 0) {
                rc = qb_staged_finish(&st, want_sha, want_bytes, got, err, errlen);
                if (rc == QB_STAGED_OK) {
                    status = QB_DL_OK;
                    break;
                }
                if (rc == QB_STAGED_IOERR) {
                    status = QB_DL_IOERR;
                    break;
                }
            } else {
                qb_staged_abandon(&st, 0);
            }
            force_fresh = 1;
            if (attempt <= o->retries + 1) continue;
        }
        if (cc == CURLE_RANGE_ERROR || cc == CURLE_BAD_DOWNLOAD_RESUME) { // cannot resume here: from the start
            qb_staged_abandon(&st, 0);
            force_fresh = 1;
            if (attempt <= o->retries + 1) continue;
        }
        const char *why = curl_err[0] ? curl_err : curl_easy_strerror(cc);
        if (cc == CURLE_HTTP_RETURNED_ERROR)
            snprintf(err, errlen, "%s: HTTP %ld", url, code);
        else
            snprintf(err, errlen, "%s: %s", url, why);
        if ((cc == CURLE_HTTP_RETURNED_ERROR && (code == 404 || code == 410)) || cc == CURLE_FILE_COULDNT_READ_FILE ||
            cc == CURLE_REMOTE_FILE_NOT_FOUND) {
            qb_staged_abandon(&st, st.bytes > 0);
            status = QB_DL_NOTFOUND;
            break;
        }
        int transient = cc == CURLE_HTTP_RETURNED_ERROR ? transient_http(code) : transient_curl(cc);
        qb_staged_abandon(&st, st.bytes > 0); // keep what arrived: the next attempt resumes it
        if (!transient || attempt > o->retries) {
            status = QB_DL_NETWORK;
            if (transient && o->retries > 0) {
                size_t k = strlen(err);
                snprintf(err + k, errlen - k, " (after %d attempts)", attempt);
            }
            break;
        }
        if (!o->quiet) qb_warn("%s; retrying in %.1f s (attempt %d of %d)", err, delay, attempt + 1, o->retries + 1);
        sleep_s(delay);
        delay = fmin(delay * 2, 30.0);
    }
    curl_easy_cleanup(curl);
    return status;
}
