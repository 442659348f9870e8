/* Version, status messages and the last-error mechanism. */
#include "check.h"

int main(void) {
  /* version */
  CHECK(strcmp(kbk_version(), KBK_VERSION_STRING) == 0);
  CHECK(kbk_version_number() ==
        KBK_VERSION_MAJOR * 10000u + KBK_VERSION_MINOR * 100u + KBK_VERSION_PATCH);

  /* every status has a message; unknown numbers too */
  CHECK(strcmp(kbk_status_message(KBK_STATUS_OK), "ok") == 0);
  CHECK(strstr(kbk_status_message(KBK_STATUS_PANIC), "panic") != NULL);
  CHECK(strcmp(kbk_status_message(999999u), "unknown status") == 0);
  for (kbk_status s = 0; s < 300; s++) CHECK(kbk_status_message(s) != NULL);

  /* no error yet on this thread */
  char buf[256];
  size_t n = 99;
  kbk_clear_last_error();
  CHECK(kbk_last_error_length() == 1);
  CHECK_OK(kbk_last_error(buf, sizeof buf, &n));
  CHECK(n == 0 && buf[0] == 0);

  /* a failing call sets it */
  CHECK_STATUS(kbk_book_config_default(NULL), KBK_STATUS_NULL_ARGUMENT);
  size_t need = kbk_last_error_length();
  CHECK(need > 1);
  CHECK_OK(kbk_last_error(buf, sizeof buf, &n));
  CHECK(n + 1 == need && strstr(buf, "out is NULL") != NULL);

  /* too small: nothing written, and the last error is unchanged */
  char small[4] = {'x', 'x', 'x', 'x'};
  size_t n2 = 77;
  CHECK_STATUS(kbk_last_error(small, sizeof small, &n2), KBK_STATUS_BUFFER_TOO_SMALL);
  CHECK(n2 == 77 && small[0] == 'x');
  CHECK(kbk_last_error_length() == need);

  /* bad arguments to kbk_last_error itself */
  CHECK_STATUS(kbk_last_error(NULL, 10, &n2), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_last_error(buf, sizeof buf, NULL), KBK_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(kbk_last_error(NULL, 0, &n2), KBK_STATUS_BUFFER_TOO_SMALL);

  kbk_clear_last_error();
  CHECK(kbk_last_error_length() == 1);
  return check_done("test_general");
}
