#include "core/common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "store/seal.h"

idp_code idp_seal_key_random(unsigned char key[IDP_SEAL_KEY_LEN], idp_err *e) {
  if (RAND_bytes(key, IDP_SEAL_KEY_LEN) != 1)
    return idp_err_set(e, IDP_EINTERNAL, "cannot generate an encryption key (RAND_bytes)");
  return IDP_OK;
}

static idp_code read_key(int fd, const char *path, unsigned char key[IDP_SEAL_KEY_LEN],
                         idp_err *e) {
  struct stat st;
  if (fstat(fd, &st) != 0) return idp_err_set(e, IDP_EIO, "key file %s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return idp_err_set(e, IDP_EINVAL, "key file %s: not a regular file", path);
  if (st.st_size != IDP_SEAL_KEY_LEN)
    return idp_err_set(e, IDP_EINVAL, "key file %s: expected %d bytes, found %lld", path,
                       IDP_SEAL_KEY_LEN, (long long)st.st_size);
  size_t got = 0;
  while (got < IDP_SEAL_KEY_LEN) {
    ssize_t r = read(fd, key + got, IDP_SEAL_KEY_LEN - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return idp_err_set(e, IDP_EIO, "key file %s: short read", path);
    got += (size_t)r;
  }
  return IDP_OK;
}

idp_code idp_seal_key_load(const char *path, unsigned char key[IDP_SEAL_KEY_LEN], idp_err *e) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    idp_code rc = idp_seal_key_random(key, e);
    size_t put = 0;
    while (!rc && put < IDP_SEAL_KEY_LEN) {
      ssize_t w = write(fd, key + put, IDP_SEAL_KEY_LEN - put);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0)
        rc = idp_err_set(e, IDP_EIO, "key file %s: %s", path, strerror(errno));
      else
        put += (size_t)w;
    }
    /* The key must be on disk before any value sealed with it is. */
    if (!rc && fsync(fd) != 0)
      rc = idp_err_set(e, IDP_EIO, "key file %s: fsync: %s", path, strerror(errno));
    close(fd);
    if (rc) unlink(path); /* a half-written key would lock the store out later */
    return rc;
  }
  if (errno != EEXIST) return idp_err_set(e, IDP_EIO, "key file %s: %s", path, strerror(errno));
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return idp_err_set(e, IDP_EIO, "key file %s: %s", path, strerror(errno));
  /* A racing creator may not have written the bytes yet: retry briefly. */
  idp_code rc = IDP_OK;
  for (int i = 0; i < 50; i++) {
    if (lseek(fd, 0, SEEK_SET) != 0) break;
    rc = read_key(fd, path, key, e);
    if (rc != IDP_EINVAL) break;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size >= IDP_SEAL_KEY_LEN) break;
    usleep(10000);
  }
  close(fd);
  return rc;
}

bool idp_sealed(const void *p, size_t n) {
  return n >= IDP_SEAL_OVERHEAD && memcmp(p, IDP_SEAL_MAGIC, IDP_SEAL_MAGIC_LEN) == 0;
}

idp_code idp_seal(const unsigned char key[IDP_SEAL_KEY_LEN], const void *aad, size_t aad_len,
                  const void *pt, size_t pt_len, idp_buf *out, idp_err *e) {
  if (pt_len > INT_MAX - 64 || aad_len > INT_MAX)
    return idp_err_set(e, IDP_ETOOLARGE, "value too large to encrypt");
  idp_buf_reset(out);
  unsigned char nonce[IDP_SEAL_NONCE_LEN];
  if (RAND_bytes(nonce, sizeof nonce) != 1)
    return idp_err_set(e, IDP_EINTERNAL, "cannot generate a nonce (RAND_bytes)");
  idp_code rc = idp_buf_add(out, IDP_SEAL_MAGIC, IDP_SEAL_MAGIC_LEN);
  if (!rc) rc = idp_buf_add(out, nonce, sizeof nonce);
  if (rc) return idp_err_set(e, rc, "value too large to encrypt");
  /* Reserve room for ciphertext + tag, then fill it in place. */
  size_t at = out->len;
  if (IDP_NEVER(pt_len + IDP_SEAL_TAG_LEN < pt_len)) return idp_err_set(e, IDP_ETOOLARGE, "size");
  static const unsigned char zeros[256];
  size_t need = pt_len + IDP_SEAL_TAG_LEN;
  while (need) {
    size_t k = need < sizeof zeros ? need : sizeof zeros;
    if ((rc = idp_buf_add(out, zeros, k))) return idp_err_set(e, rc, "value too large to encrypt");
    need -= k;
  }
  unsigned char *ct = (unsigned char *)out->data + at;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int len = 0, ok = c != NULL;
  ok = ok && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1;
  ok = ok && (aad_len == 0 || EVP_EncryptUpdate(c, NULL, &len, aad, (int)aad_len) == 1);
  ok = ok && EVP_EncryptUpdate(c, ct, &len, pt, (int)pt_len) == 1;
  ok = ok && EVP_EncryptFinal_ex(c, ct + len, &len) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, IDP_SEAL_TAG_LEN, ct + pt_len) == 1;
  EVP_CIPHER_CTX_free(c);
  if (!ok) {
    idp_buf_reset(out);
    return idp_err_set(e, IDP_EINTERNAL, "AES-256-GCM encryption failed");
  }
  return IDP_OK;
}

idp_code idp_unseal(const unsigned char key[IDP_SEAL_KEY_LEN], const void *aad, size_t aad_len,
                    const void *blob, size_t blob_len, idp_buf *out, idp_err *e) {
  idp_buf_reset(out);
  if (!idp_sealed(blob, blob_len) || blob_len - IDP_SEAL_OVERHEAD > INT_MAX || aad_len > INT_MAX)
    return idp_err_set(e, IDP_EIO, "stored value is not a valid encrypted blob");
  const unsigned char *b = blob;
  const unsigned char *nonce = b + IDP_SEAL_MAGIC_LEN;
  const unsigned char *ct = nonce + IDP_SEAL_NONCE_LEN;
  size_t ct_len = blob_len - IDP_SEAL_OVERHEAD;
  unsigned char tag[IDP_SEAL_TAG_LEN];
  memcpy(tag, ct + ct_len, IDP_SEAL_TAG_LEN);
  /* Decrypt into a scratch area; only a verified plaintext reaches `out`. */
  idp_code rc = IDP_OK;
  static const unsigned char zeros[256];
  size_t need = ct_len;
  while (need && !rc) {
    size_t k = need < sizeof zeros ? need : sizeof zeros;
    rc = idp_buf_add(out, zeros, k);
    need -= k;
  }
  if (rc) return idp_err_set(e, rc, "encrypted value too large");
  if (!out->data && (rc = idp_buf_add(out, "", 0))) return idp_err_set(e, rc, "out of memory");
  unsigned char *pt = (unsigned char *)out->data;
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int len = 0, ok = c != NULL;
  ok = ok && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1;
  ok = ok && (aad_len == 0 || EVP_DecryptUpdate(c, NULL, &len, aad, (int)aad_len) == 1);
  ok = ok && EVP_DecryptUpdate(c, pt, &len, ct, (int)ct_len) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, IDP_SEAL_TAG_LEN, tag) == 1;
  ok = ok && EVP_DecryptFinal_ex(c, pt + len, &len) == 1;
  EVP_CIPHER_CTX_free(c);
  if (!ok) {
    if (out->data) OPENSSL_cleanse(out->data, out->len);
    idp_buf_reset(out);
    return idp_err_set(e, IDP_EIO,
                       "cannot decrypt stored value: wrong encryption key or tampered data");
  }
  return IDP_OK;
}
