#include "core/common.h"

#include <time.h>

#include "apiserver/api_int.h"

/* Consistent pagination.  The store pages by key without a snapshot; to
 * give kubectl the etcd behaviour (every page of one list shows the state
 * at the first page's revision) the first limited page takes the whole
 * list once, as JSON text with item offsets, and keeps it here.  Entries
 * are bounded in number, bytes and age and die with compaction of their
 * revision: a token past any of these limits is "expired" (410), as an etcd
 * continue token past compaction is. */

enum { PAGER_MAX = 16, PAGER_TTL_S = 300 };
#define PAGER_MAX_BYTES ((size_t)128 << 20)

static const char token_prefix[] = "idp-page-";

typedef struct page_entry {
  uint64_t id;
  time_t created;
  api_snap *snap;
} page_entry;

struct api_pager {
  pthread_mutex_t mu;
  page_entry e[PAGER_MAX];
  uint64_t next_id;
};

void api_snap_unref(api_snap *s) {
  if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
  free(s->raw);
  free(s->off);
  free(s);
}

/* Item offsets of a compact JSON array text "[a,b,...]". */
api_snap *api_snap_new(char *raw, size_t len, int64_t rev) {
  api_snap *s = calloc(1, sizeof *s);
  if (!s) {
    free(raw);
    return NULL;
  }
  atomic_init(&s->refs, 1);
  s->raw = raw;
  s->len = len;
  s->rev = rev;
  size_t cap = 64;
  s->off = malloc(cap * sizeof *s->off);
  int depth = 0;
  bool instr = false, esc = false;
  for (size_t i = 0; s->off && i < len; i++) {
    char ch = raw[i];
    if (instr) {
      if (esc)
        esc = false;
      else if (ch == '\\')
        esc = true;
      else if (ch == '"')
        instr = false;
      continue;
    }
    bool boundary = false;
    if (ch == '"') {
      instr = true;
    } else if (ch == '[' || ch == '{') {
      boundary = depth == 0 && ch == '[' && i + 1 < len && raw[i + 1] != ']';
      depth++;
    } else if (ch == ']' || ch == '}') {
      depth--;
      if (depth == 0) {
        /* the end marker: item n-1 ends before this ']' */
        if (s->n + 1 > cap) break;
        s->off[s->n] = i + 1;
        if (!s->n) s->off[0] = i + 1;
        return s;
      }
    } else if (ch == ',' && depth == 1) {
      boundary = true;
    }
    if (boundary) {
      if (s->n + 2 > cap) {
        cap *= 2;
        size_t *no = realloc(s->off, cap * sizeof *no);
        if (!no) break;
        s->off = no;
      }
      s->off[s->n++] = i + 1;
    }
  }
  api_snap_unref(s); /* not a JSON array, or out of memory */
  return NULL;
}

void api_snap_item(const api_snap *s, size_t i, const char **p, size_t *len) {
  *p = s->raw + s->off[i];
  *len = s->off[i + 1] - 1 - s->off[i];
}

api_pager *api_pager_new(void) {
  api_pager *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  pthread_mutex_init(&p->mu, NULL);
  char uid[37];
  api_uuid(uid);
  p->next_id = (uint64_t)strtoull(uid + 24, NULL, 16) << 16; /* distinct across restarts */
  return p;
}

void api_pager_free(api_pager *p) {
  if (!p) return;
  for (size_t i = 0; i < PAGER_MAX; i++) api_snap_unref(p->e[i].snap);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

void api_pager_put(api_pager *p, api_snap *snap, size_t offset, char *token, size_t n) {
  pthread_mutex_lock(&p->mu);
  size_t total = snap->len;
  for (size_t i = 0; i < PAGER_MAX; i++) total += p->e[i].snap ? p->e[i].snap->len : 0;
  for (;;) {
    /* a free slot, else the oldest; drop the oldest while over the byte cap */
    size_t slot = 0;
    for (size_t i = 1; i < PAGER_MAX; i++)
      if (p->e[slot].snap && (!p->e[i].snap || p->e[i].created < p->e[slot].created)) slot = i;
    if (p->e[slot].snap) {
      total -= p->e[slot].snap->len;
      api_snap_unref(p->e[slot].snap);
      p->e[slot].snap = NULL;
    }
    if (total <= PAGER_MAX_BYTES || total == snap->len) {
      atomic_fetch_add(&snap->refs, 1);
      p->e[slot].snap = snap;
      p->e[slot].id = ++p->next_id;
      p->e[slot].created = time(NULL);
      snprintf(token, n, "%s%016" PRIx64 "-%zu", token_prefix, p->e[slot].id, offset);
      break;
    }
  }
  pthread_mutex_unlock(&p->mu);
}

idp_code api_pager_get(api_pager *p, const char *token, int64_t compacted, api_snap **snap,
                       size_t *offset) {
  *snap = NULL;
  if (strncmp(token, token_prefix, sizeof token_prefix - 1)) return IDP_ENOTFOUND;
  const char *t = token + sizeof token_prefix - 1;
  char *end;
  errno = 0;
  uint64_t id = strtoull(t, &end, 16);
  if (errno || *end != '-') return IDP_EINVAL;
  unsigned long long off = strtoull(end + 1, &end, 10);
  if (*end) return IDP_EINVAL;
  idp_code code = IDP_EGONE;
  pthread_mutex_lock(&p->mu);
  for (size_t i = 0; i < PAGER_MAX; i++) {
    page_entry *e = &p->e[i];
    if (!e->snap || e->id != id) continue;
    if (e->snap->rev < compacted || time(NULL) - e->created > PAGER_TTL_S || off > e->snap->n)
      break;
    atomic_fetch_add(&e->snap->refs, 1);
    *snap = e->snap;
    *offset = (size_t)off;
    code = IDP_OK;
    break;
  }
  pthread_mutex_unlock(&p->mu);
  return code;
}
