// test_util: the atomic output and the argument parsers of tools/lib/util.
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"
#include "util.h"

int main(void) {
    char dir[] = "/tmp/qb-test-util-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char *path = qb_path_join(dir, "out.tsv");

    qb_out o;
    FILE *f = qb_out_open(&o, path, "w");
    fprintf(f, "a\tb\n");
    tap_ok(!qb_file_exists(path), "output is not visible under its final name before commit");
    qb_out_commit(&o);
    size_t n = 0;
    char *text = qb_read_file(path, &n);
    tap_ok(n == 4 && strcmp(text, "a\tb\n") == 0, "committed output has the written bytes");
    char *tmp = qb_path_join(dir, "out.tsv.tmp");
    tap_ok(!qb_file_exists(tmp), "temp file is gone after commit");

    char *path2 = qb_path_join(dir, "aborted.tsv");
    qb_out o2;
    fprintf(qb_out_open(&o2, path2, "w"), "half");
    qb_out_abort(&o2);
    char *tmp2 = qb_path_join(dir, "aborted.tsv.tmp");
    tap_ok(!qb_file_exists(path2) && !qb_file_exists(tmp2), "aborted output leaves nothing behind");

    // A device target is written in place, never replaced by a renamed temp file.
    qb_out o3;
    fprintf(qb_out_open(&o3, "/dev/null", "w"), "discarded");
    qb_out_commit(&o3);
    struct stat st;
    tap_ok(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "committing an output to /dev/null leaves the device node");

    tap_ok(qb_parse_long("-n", "42", 0, 100) == 42, "parse_long accepts a number in range");
    tap_ok(qb_parse_double("--temp", "0.5", 0, 10) == 0.5, "parse_double accepts a number in range");

    qb_map m;
    char err[256];
    tap_ok(qb_map_file(&m, path, err, sizeof err) == 0 && m.size == 4 && memcmp(m.data, "a\tb\n", 4) == 0,
           "map_file maps the whole file");
    qb_unmap(&m);
    char *missing = qb_path_join(dir, "missing");
    tap_ok(qb_map_file(&m, missing, err, sizeof err) != 0 && strstr(err, missing) != NULL,
           "map_file of a missing file fails with a message naming it");

    unlink(path);
    rmdir(dir);
    return tap_done();
}
