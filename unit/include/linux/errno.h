/* SPDX-License-Identifier: GPL-2.0 */
/* Stub: the kernel errno values regbuf.c returns (asm-generic numbering). */
#ifndef _UNIT_LINUX_ERRNO_H
#define _UNIT_LINUX_ERRNO_H

#define ENXIO		6
#define ENOMEM		12
#define EFAULT		14
#define EBUSY		16
#define EINVAL		22
#define EOVERFLOW	75
#define EOPNOTSUPP	95
#define ETOOMANYREFS	109

#endif
