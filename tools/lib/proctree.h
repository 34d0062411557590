// proctree.h: the processes descending from one root (normally the caller,
// made a child subreaper so that orphans stay in its tree), and their summed
// resident memory and CPU time, read from /proc.
//
// Finding the tree: /proc/PID/task/TID/children needs CONFIG_PROC_CHILDREN
// and one read per thread of every process, so instead each sample lists
// /proc once (a few getdents calls) and reads /proc/PID/stat only of pids it
// has not classified yet. A pid found not to descend from the root is
// remembered as foreign and never read again while it stays listed: a
// process's parent only ever changes to a subreaper above it, so a foreign
// process cannot join the tree, and pids are handed out cyclically, so a
// number is reused only after it has left the listing (the whole table is
// reclassified every second all the same, in case of reuse within one
// sample). Processes of the tree keep their stat file open, so each sample
// costs one pread and one clock_gettime per process of the tree.
#pragma once
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;
    pid_t ppid;
    int fd;          // open /proc/PID/stat of a tree process, else -1
    int descendant;  // 1 in the tree, 0 foreign, -1 not yet known
    double rss;      // bytes, at the last read
    double cpu_s;    // own CPU time plus that of its reaped children, seconds
} qb_proc;

typedef struct {
    pid_t root;
    qb_proc *procs;  // sorted by pid: every pid listed in /proc at the last sample
    size_t n;
    pid_t *tree;     // pids of the tree at the last sample (for the GPU query)
    size_t ntree;
    double last_full; // monotonic time of the last full reclassification
    long page_size, clk_tck;
    pid_t *scratch;   // the /proc listing
    size_t scratch_cap;
} qb_proctree;

typedef struct {
    double rss_bytes; // resident memory summed over the tree (shared pages count once per process, as in ps)
    double cpu_s;     // CPU time (user + system) of the live tree, including children its processes reaped
    size_t nproc;     // processes in the tree (zombies included)
} qb_tree_usage;

// Returns 0, or -1 when /proc cannot be read (errno set).
int qb_proctree_init(qb_proctree *t, pid_t root);
// Takes one sample of the tree. Returns 0, or -1 when /proc cannot be listed.
int qb_proctree_sample(qb_proctree *t, qb_tree_usage *u);
// The largest kernel high-water mark of resident memory (VmHWM, bytes) among
// the live processes of the tree at the last sample; 0 when none is readable.
double qb_proctree_hwm_bytes(const qb_proctree *t);
void qb_proctree_free(qb_proctree *t);

// Parses the text of /proc/PID/stat. Returns 0 or -1 when malformed.
// Times are in clock ticks, rss in pages.
typedef struct {
    char state;
    pid_t ppid;
    unsigned long long utime, stime, cutime, cstime, rss_pages;
} qb_stat_fields;
int qb_parse_proc_stat(const char *text, size_t len, qb_stat_fields *f);
