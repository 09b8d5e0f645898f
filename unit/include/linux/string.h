/* SPDX-License-Identifier: GPL-2.0 */
/* Stub: memcpy() and friends come from libc. */
#ifndef _UNIT_LINUX_STRING_H
#define _UNIT_LINUX_STRING_H

#include <string.h>

#endif
