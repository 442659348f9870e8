/* A tiny check harness for the C tests: CHECK counts failures, and each
 * test program prints one line "<name>: N checks, M failed" and exits
 * non-zero when any check failed. */
#ifndef KBK_CHECK_H
#define KBK_CHECK_H
#include <stdio.h>
#include <string.h>
#include "kabuken.h"

static int kbk_checks = 0;
static int kbk_failed = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    kbk_checks++;                                                          \
    if (!(cond)) {                                                         \
      kbk_failed++;                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,     \
              #cond);                                                      \
    }                                                                      \
  } while (0)

/* Checks that `call` returns `want`, printing the last error if not. */
#define CHECK_STATUS(call, want)                                           \
  do {                                                                     \
    kbk_status s_ = (call);                                                \
    kbk_checks++;                                                          \
    if (s_ != (kbk_status)(want)) {                                        \
      char buf_[512];                                                      \
      size_t n_ = 0;                                                       \
      kbk_failed++;                                                        \
      if (kbk_last_error(buf_, sizeof buf_, &n_) != KBK_STATUS_OK)         \
        buf_[0] = 0;                                                       \
      fprintf(stderr, "%s:%d: %s returned %u (%s), want %u; last error: %s\n", \
              __FILE__, __LINE__, #call, (unsigned)s_,                     \
              kbk_status_message(s_), (unsigned)(want), buf_);             \
    }                                                                      \
  } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, KBK_STATUS_OK)

static int check_done(const char *name) {
  printf("%s: %d checks, %d failed\n", name, kbk_checks, kbk_failed);
  return kbk_failed == 0 ? 0 : 1;
}
#endif
