/* tests/tmpdir.h — a private temporary folder for tests that write files: tmpdir_create makes it
 * (under $TMPDIR or /tmp), tmp_path names a file in it, write_file writes one, tmpdir_remove deletes
 * the folder. Include after harness.h. */
#ifndef NABLA_TEST_TMPDIR_H
#define NABLA_TEST_TMPDIR_H

static char g_dir[256];

/* Returns false (after printing why) when the folder cannot be made. tag names the test. */
static bool tmpdir_create(const char *tag) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/nabla-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return false;
    }
    return true;
}

static void tmpdir_remove(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
}

/* "<folder>/<name>" in one of 8 rotating buffers, so a few can be used in one expression. */
static const char *tmp_path(const char *name) {
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", g_dir, name);
    return b;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

#endif
