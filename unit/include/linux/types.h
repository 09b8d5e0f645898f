/* SPDX-License-Identifier: GPL-2.0 */
/* Stub: kernel integer types for building io_uring/regbuf.c in user space. */
#ifndef _UNIT_LINUX_TYPES_H
#define _UNIT_LINUX_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef unsigned long long u64;
typedef long long s64;
typedef unsigned int gfp_t;

#define __user

#endif
