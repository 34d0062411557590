// download.h: one verified transfer with libcurl (http, https, file).
//
// The bytes go to DEST.part (staged.h), hashed as they arrive, and DEST.part
// is renamed to DEST only when the digest (and size) match. A DEST.part left
// by an earlier, interrupted transfer is resumed with an HTTP Range request
// (or file offset); a server that ignores the range makes the transfer start
// over. Transient failures (timeouts, refused or dropped connections, a
// transfer cut short, HTTP 408, 429 and 5xx) are retried with exponential
// backoff; 404 and other client errors are not. A resumed transfer whose
// digest is wrong is retried once from the first byte, in case the old part
// was the bad piece.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    long connect_timeout_s; // give up connecting after this long
    long stall_s;           // abort a transfer slower than stall_bytes/s for this long
    long stall_bytes;
    int retries;            // extra attempts after a transient failure
    double retry_delay_s;   // the first backoff; doubled each retry, at most 30 s
    int quiet;              // no progress bar, summary or retry warnings
} qb_dl_opts;

void qb_dl_defaults(qb_dl_opts *o);

typedef enum {
    QB_DL_OK = 0,
    QB_DL_NOTFOUND, // HTTP 404/410, or no such file: try the next source
    QB_DL_NETWORK,  // the transfer failed (after the retries)
    QB_DL_MISMATCH, // the bytes are not the pinned ones (nothing installed, DEST.part removed)
    QB_DL_IOERR,    // a local file could not be written
} qb_dl_status;

// Call once before any transfer (not thread-safe, like curl_global_init).
void qb_dl_global_init(void);

// Downloads url to dest. want_sha (64 hex) and want_bytes (>= 0) are checked
// when given. label names the transfer in the progress line. On QB_DL_OK, got
// holds the digest; otherwise err holds a one-line reason.
qb_dl_status qb_download(const char *url, const char *dest, const char *want_sha, int64_t want_bytes, const char *label,
                         const qb_dl_opts *o, char got[65], char *err, size_t errlen);
