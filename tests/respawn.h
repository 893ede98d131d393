/* tests/respawn.h — run this test program again with NABLA_CPU_MAX=<level> (and one extra
 * environment variable marking the child), so one ctest entry checks every dispatch level the CPU
 * has. Include after harness.h. */
#ifndef NABLA_TEST_RESPAWN_H
#define NABLA_TEST_RESPAWN_H

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Re-run /proc/self/exe with NABLA_CPU_MAX=level and child_var=child_value replacing any earlier
 * values; returns its exit status, or -1 when it could not run. */
static int respawn_at_level(const char *level, const char *child_var, const char *child_value) {
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return -1;
    self[len] = 0;
    size_t n = 0, vlen = strlen(child_var);
    while (environ[n]) n++;
    char **env = calloc(n + 3, sizeof *env);
    if (!env) return -1;
    size_t e = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "NABLA_CPU_MAX=", 14) != 0 &&
            !(strncmp(environ[i], child_var, vlen) == 0 && environ[i][vlen] == '='))
            env[e++] = environ[i];
    char cap[64], child[256];
    snprintf(cap, sizeof cap, "NABLA_CPU_MAX=%s", level);
    snprintf(child, sizeof child, "%s=%s", child_var, child_value);
    env[e++] = cap;
    env[e++] = child;
    env[e] = NULL;
    char *argv[] = {self, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, self, NULL, NULL, argv, env);
    free(env);
    if (rc != 0) return -1;
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}


/* In the parent run (child_var unset), re-run the program at the AVX2 and scalar levels and check that
 * both children pass; in a child, nothing. */
static inline void respawn_lower_levels(const char *child_var) {
    if (getenv(child_var)) return;
    static const char *levels[] = {"avx2", "scalar"};
    for (int i = 0; i < 2; i++) {
        int rc = respawn_at_level(levels[i], child_var, "1");
        CHECK_MSG(rc == 0, "child with NABLA_CPU_MAX=%s exited with %d", levels[i], rc);
    }
}

#endif
