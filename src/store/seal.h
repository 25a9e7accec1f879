/* seal.h: encryption at rest for store values (AES-256-GCM, OpenSSL EVP).
 *
 * Blob format, version 1 (all lengths fixed):
 *   magic "\0IDPs1" (6 bytes; a leading NUL never starts stored JSON)
 *   nonce (12 random bytes, fresh for every seal)
 *   ciphertext (same length as the plaintext)
 *   tag (16 bytes)
 * The additional authenticated data is the object's key (resource, ns, name),
 * so a blob copied onto another object's row fails to open instead of
 * showing the wrong object.  A wrong key or any flipped bit fails the tag
 * check: idp_unseal then returns IDP_EIO and never yields garbage.
 *
 * Key file: exactly 32 raw bytes.  idp_seal_key_load creates a missing file
 * with O_CREAT|O_EXCL and mode 0600 from RAND_bytes (two processes racing
 * to create it end up with the same key).  Error messages name the file,
 * never the key bytes. */
#ifndef IDP_STORE_SEAL_H
#define IDP_STORE_SEAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define IDP_SEAL_KEY_LEN 32
#define IDP_SEAL_MAGIC "\0IDPs1"
#define IDP_SEAL_MAGIC_LEN 6
#define IDP_SEAL_NONCE_LEN 12
#define IDP_SEAL_TAG_LEN 16
#define IDP_SEAL_OVERHEAD (IDP_SEAL_MAGIC_LEN + IDP_SEAL_NONCE_LEN + IDP_SEAL_TAG_LEN)

/* Loads the key from `path`, creating it (0600, random) when missing. */
idp_code idp_seal_key_load(const char *path, unsigned char key[IDP_SEAL_KEY_LEN], idp_err *e);
/* A fresh random key (for ":memory:" stores without a key file). */
idp_code idp_seal_key_random(unsigned char key[IDP_SEAL_KEY_LEN], idp_err *e);

/* True when `p` starts with the sealed-blob magic. */
bool idp_sealed(const void *p, size_t n);

/* Appends the sealed form of pt to out (out is reset first). */
idp_code idp_seal(const unsigned char key[IDP_SEAL_KEY_LEN], const void *aad, size_t aad_len,
                  const void *pt, size_t pt_len, idp_buf *out, idp_err *e);
/* Opens a sealed blob into out (reset first); IDP_EIO on a bad tag/format. */
idp_code idp_unseal(const unsigned char key[IDP_SEAL_KEY_LEN], const void *aad, size_t aad_len,
                    const void *blob, size_t blob_len, idp_buf *out, idp_err *e);

#endif
