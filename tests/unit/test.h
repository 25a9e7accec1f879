/* test.h: the first include of every cmocka unit test. */
#ifndef IDP_TEST_H
#define IDP_TEST_H
#include "core/common.h"
#include <setjmp.h>
#include <cmocka.h>
#endif
