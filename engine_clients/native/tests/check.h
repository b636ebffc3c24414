/* CHECK for the C tests of the C ABI: report a false condition with its place and go on;
 * main returns `failures != 0` at the end. */
#ifndef ARTEM_TESTS_CHECK_H
#define ARTEM_TESTS_CHECK_H

#include <stdio.h>

static int failures = 0;
#define CHECK(cond)                                               \
  do {                                                            \
    if (!(cond)) {                                                \
      fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                 \
    }                                                             \
  } while (0)

#endif
