/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _UNIT_LINUX_SIZES_H
#define _UNIT_LINUX_SIZES_H

#define SZ_4K	0x00001000
#define SZ_2M	0x00200000
#define SZ_1G	0x40000000

#endif
