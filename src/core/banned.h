/* banned.h: libc string calls that write without a bound, or parse without
 * reporting errors, do not compile in idp (as git's banned.h).  Use idp_buf
 * (core/buf.h), snprintf, memcpy with a checked length, or strtoll with an
 * end pointer instead.  Included last by core/common.h so system headers
 * are already declared. */
#ifndef IDP_BANNED_H
#define IDP_BANNED_H

#define BANNED(func) sorry_##func##_is_banned_in_idp

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) BANNED(strncat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef gets
#define gets(x) BANNED(gets)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)
/* idp_sort (core/common.h) handles the empty case qsort leaves undefined */
#undef qsort
#define qsort(...) BANNED(qsort)

#endif
